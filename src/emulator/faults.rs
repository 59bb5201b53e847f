//! Fault injection: by script (rules matched in order, each a number of times) and by rate
//! (seeded dice, so a failing run can be repeated exactly).

use serde::{Deserialize, Serialize};

/// What the emulator does instead of answering.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Fault {
    /// Answers with this HTTP status (429 gets a `retry-after`, default `1`).
    Status {
        status: u16,
        #[serde(default)]
        retry_after: Option<String>,
    },
    /// Drops the connection without a complete answer; the request has no effect.
    Drop,
    /// Answers normally after this long (wall time).
    Slow { millis: u64 },
    /// Answers 200 with a body that is not JSON; the request has no effect.
    Garbage,
    /// Answers 401 as for an expired token, and forgets every issued access token.
    ExpireToken,
    /// Answers 200 with this JSON instead (a status value LCS may add, say); no effect.
    Json { body: serde_json::Value },
    /// Answers 200 with a JSON body of this many bytes, streamed; no effect.
    Huge { bytes: u64 },
    /// Answers with this status and a body that echoes the request (its form or JSON body and
    /// its `Authorization` header) in every field a client reads a message from, as a careless
    /// service does; no effect.
    Echo { status: u16 },
}

impl Fault {
    #[must_use]
    pub fn label(&self) -> String {
        match self {
            Self::Status { status, .. } => status.to_string(),
            Self::Drop => "drop".into(),
            Self::Slow { millis } => format!("slow {millis}ms"),
            Self::Garbage => "garbage".into(),
            Self::ExpireToken => "expire-token".into(),
            Self::Json { .. } => "json".into(),
            Self::Huge { bytes } => format!("huge {bytes}"),
            Self::Echo { status } => format!("echo {status}"),
        }
    }
}

/// A scripted fault: the first `times` requests whose method matches and whose path contains
/// `path`, after `skip` such requests passed untouched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRule {
    pub path: String,
    #[serde(default)]
    pub method: Option<String>,
    #[serde(default)]
    pub skip: u32,
    #[serde(default = "one")]
    pub times: u32,
    pub fault: Fault,
}

const fn one() -> u32 {
    1
}

impl FaultRule {
    /// Takes the rule's fault for this request, if it applies.
    pub fn take(&mut self, method: &str, path: &str) -> Option<Fault> {
        let matches = path.contains(&self.path)
            && self
                .method
                .as_deref()
                .is_none_or(|wanted| wanted.eq_ignore_ascii_case(method));
        if !matches || self.times == 0 {
            return None;
        }
        if self.skip > 0 {
            self.skip -= 1;
            return None;
        }
        self.times -= 1;
        Some(self.fault.clone())
    }
}

/// Faults by rate, each a probability per request (`--fault 429=0.1,drop=0.02`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rates {
    pub throttle: f64,
    pub server_error: f64,
    pub drop: f64,
    pub slow: f64,
    pub garbage: f64,
}

impl Rates {
    /// Parses `KIND=RATE[,KIND=RATE…]` with kinds `429`, `5xx`, `drop`, `slow`, `garbage`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut rates = Self::default();
        for part in text
            .split(',')
            .map(str::trim)
            .filter(|part| !part.is_empty())
        {
            let (kind, rate) = part
                .split_once('=')
                .ok_or_else(|| format!("`{part}`: expected KIND=RATE, such as 429=0.1"))?;
            let rate: f64 = rate
                .trim()
                .parse()
                .ok()
                .filter(|rate: &f64| (0.0..=1.0).contains(rate))
                .ok_or_else(|| format!("`{part}`: the rate must be a number from 0 to 1"))?;
            let slot = match kind.trim() {
                "429" => &mut rates.throttle,
                "5xx" | "500" => &mut rates.server_error,
                "drop" => &mut rates.drop,
                "slow" => &mut rates.slow,
                "garbage" => &mut rates.garbage,
                other => {
                    return Err(format!(
                        "unknown fault `{other}`; one of 429, 5xx, drop, slow, garbage"
                    ));
                }
            };
            *slot = rate;
        }
        Ok(rates)
    }

    /// Rolls for one request.
    pub fn roll(&self, dice: &mut Dice) -> Option<Fault> {
        let table = [
            (
                self.throttle,
                Fault::Status {
                    status: 429,
                    retry_after: Some("1".into()),
                },
            ),
            (
                self.server_error,
                Fault::Status {
                    status: 503,
                    retry_after: None,
                },
            ),
            (self.drop, Fault::Drop),
            (self.slow, Fault::Slow { millis: 200 }),
            (self.garbage, Fault::Garbage),
        ];
        table
            .into_iter()
            .find(|(rate, _)| *rate > 0.0 && dice.next_unit() < *rate)
            .map(|(_, fault)| fault)
    }
}

/// xorshift64*: small, seeded, good enough for fault dice.
#[derive(Debug)]
pub struct Dice(u64);

impl Dice {
    #[must_use]
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    pub fn next_unit(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let value = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d);
        #[expect(clippy::cast_precision_loss, reason = "53 bits of a random number")]
        let unit = (value >> 11) as f64 / (1_u64 << 53) as f64;
        unit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_skip_then_fire_a_number_of_times() {
        let mut rule = FaultRule {
            path: "CreateFileAsset".into(),
            method: Some("POST".into()),
            skip: 1,
            times: 2,
            fault: Fault::Drop,
        };
        assert_eq!(rule.take("POST", "/box/fileasset/GetAssets/1"), None);
        assert_eq!(rule.take("POST", "/box/fileasset/CreateFileAsset/1"), None);
        assert_eq!(rule.take("GET", "/box/fileasset/CreateFileAsset/1"), None);
        assert_eq!(
            rule.take("post", "/box/fileasset/CreateFileAsset/1"),
            Some(Fault::Drop)
        );
        assert_eq!(
            rule.take("POST", "/box/fileasset/CreateFileAsset/1"),
            Some(Fault::Drop)
        );
        assert_eq!(rule.take("POST", "/box/fileasset/CreateFileAsset/1"), None);
    }

    #[test]
    fn rates_parse_and_roll_about_as_often_as_asked() {
        let rates = Rates::parse("429=0.25, drop=0").unwrap();
        let mut dice = Dice::new(7);
        let hits = (0..10_000)
            .filter(|_| rates.roll(&mut dice).is_some())
            .count();
        assert!((2_000..3_000).contains(&hits), "{hits}");
        assert!(
            Rates::parse("teapot=0.1")
                .unwrap_err()
                .contains("unknown fault")
        );
        assert!(Rates::parse("429=2").unwrap_err().contains("from 0 to 1"));
        assert!(Rates::parse("429").unwrap_err().contains("KIND=RATE"));
    }
}
