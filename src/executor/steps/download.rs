//! Download steps: a package from the shared asset library into the cache, kept when it is
//! already there whole.

use crate::adapter::Adapter;
use crate::executor::run::{Executor, Outcome};
use crate::state::RunRecord;

impl<A: Adapter> Executor<'_, A> {
    pub(in crate::executor) async fn download(
        &mut self,
        run: &mut RunRecord,
        index: usize,
        package: &str,
    ) -> Outcome {
        let project = self.plan.project();
        let shared = match self.adapter.find_shared_asset(package).await {
            Ok(Some(shared)) => shared,
            Ok(None) => {
                return Outcome::Fail(format!("the shared asset library has no \"{package}\""));
            }
            Err(error) => return self.poll_error(run, index, error),
        };
        let directory = self.settings.cache_dir.join(&shared.id);
        let file = directory.join(&shared.file_name);
        run.steps[index].remote.asset = Some(shared.id.clone());
        run.steps[index].remote.file = Some(file.display().to_string());
        let cached = std::fs::metadata(&file).map(|metadata| metadata.len()).ok();
        if cached.is_some() && cached == shared.size {
            return Outcome::Done;
        }
        if let Err(error) = std::fs::create_dir_all(&directory) {
            return Outcome::Fail(format!("cannot create `{}`: {error}", directory.display()));
        }
        let partial = directory.join(format!("{}.part", shared.file_name));
        match self
            .adapter
            .download_asset(project, &shared.id, &partial)
            .await
        {
            Ok(size) if shared.size.is_none_or(|expected| expected == size) => {
                match std::fs::rename(&partial, &file) {
                    Ok(()) => Outcome::Done,
                    Err(error) => Outcome::Fail(format!(
                        "cannot move the download into `{}`: {error}",
                        file.display()
                    )),
                }
            }
            Ok(size) => Outcome::Fail(format!(
                "downloaded {size} bytes; the asset has {}",
                shared.size.unwrap_or_default()
            )),
            Err(error) => self.poll_error(run, index, error),
        }
    }
}
