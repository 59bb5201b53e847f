//! Fills a state file with copies of one finished run, for `benches/run.sh`:
//! `fill_state STATE_FILE COUNT` copies the newest run already in the file.

use refreshctl::state::{Claim, StateStore, StateUrl};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args.next().ok_or("usage: fill_state STATE_FILE COUNT")?;
    let count: u32 = args
        .next()
        .ok_or("usage: fill_state STATE_FILE COUNT")?
        .parse()?;
    let store = StateStore::open(&StateUrl::Sqlite(path.into()))?;
    let template = store
        .runs()?
        .pop()
        .ok_or("the state file has no run to copy")?;
    let events = store.events(&template.id)?;
    for index in 0..count {
        let mut run = template.clone();
        run.id = format!("{}~bench{index}", template.id);
        run.target = format!("{}-{index}", template.target);
        run.version = 0;
        if let Claim::Inserted(run) = store.insert_run(&run)? {
            for event in &events {
                store.append_event(&run.id, &event.kind, &event.detail, event.at)?;
            }
        }
    }
    Ok(())
}
