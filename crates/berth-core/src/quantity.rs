//! Sizes and durations as users write them (`512m`, `1GiB`, `90s`, `1h30m`, or plain numbers),
//! parsed once into exact values. Sizes follow Docker: every unit is binary (`1k` = 1024).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A number of bytes. Parses `1048576`, `512k`, `64m`, `1g`, `1.5GiB`, `10MB` (binary units, like Docker).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ByteSize(pub u64);

impl ByteSize {
    pub const fn kib(n: u64) -> Self {
        ByteSize(n << 10)
    }
    pub const fn mib(n: u64) -> Self {
        ByteSize(n << 20)
    }
    pub const fn gib(n: u64) -> Self {
        ByteSize(n << 30)
    }
    pub fn bytes(self) -> u64 {
        self.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{input}` is not a size: expected a positive number with an optional unit (b, k, m, g, t), e.g. 512m or 1GiB")]
pub struct SizeError {
    pub input: String,
}

impl FromStr for ByteSize {
    type Err = SizeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || SizeError { input: s.to_string() };
        let t = s.trim();
        let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let value: f64 = num.parse().map_err(|_| err())?;
        let shift = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 0,
            "k" | "kb" | "kib" => 10,
            "m" | "mb" | "mib" => 20,
            "g" | "gb" | "gib" => 30,
            "t" | "tb" | "tib" => 40,
            _ => return Err(err()),
        };
        let bytes = value * (1u64 << shift) as f64;
        if !bytes.is_finite() || bytes < 0.0 || bytes > u64::MAX as f64 {
            return Err(err());
        }
        Ok(ByteSize(bytes.round() as u64))
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [(&str, u32); 3] = [("GiB", 30), ("MiB", 20), ("KiB", 10)];
        for (unit, shift) in UNITS {
            let base = 1u64 << shift;
            if self.0 >= base {
                if self.0.is_multiple_of(base) {
                    return write!(f, "{}{unit}", self.0 / base);
                }
                return write!(f, "{:.1}{unit}", self.0 as f64 / base as f64);
            }
        }
        write!(f, "{}B", self.0)
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.0)
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Int(i64),
            Float(f64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Int(n) if n >= 0 => Ok(ByteSize(n as u64)),
            Raw::Int(n) => Err(serde::de::Error::custom(format!("{n} is negative: a size must be zero or more bytes"))),
            Raw::Float(f) => Err(serde::de::Error::custom(format!(
                "{f} is not a whole number of bytes: write e.g. \"1.5g\" as a string"
            ))),
            Raw::Text(s) => s.parse().map_err(serde::de::Error::custom),
        }
    }
}

/// A duration. Parses `90s`, `1m30s`, `2h` (humantime) or a plain number of seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct DurationSpec(pub Duration);

impl DurationSpec {
    pub const fn secs(n: u64) -> Self {
        DurationSpec(Duration::from_secs(n))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{input}` is not a duration: expected e.g. 90s, 1m30s, 2h or a number of seconds")]
pub struct DurationError {
    pub input: String,
}

impl FromStr for DurationSpec {
    type Err = DurationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        if let Ok(secs) = t.parse::<u64>() {
            return Ok(DurationSpec::secs(secs));
        }
        humantime::parse_duration(t).map(DurationSpec).map_err(|_| DurationError { input: s.to_string() })
    }
}

impl fmt::Display for DurationSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

impl Serialize for DurationSpec {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for DurationSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Int(i64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Int(n) if n >= 0 => Ok(DurationSpec::secs(n as u64)),
            Raw::Int(n) => {
                Err(serde::de::Error::custom(format!("{n} is negative: a duration must be zero or more seconds")))
            }
            Raw::Text(s) => s.parse().map_err(serde::de::Error::custom),
        }
    }
}

/// Both accept a number or a string in the API, e.g. `512m` or `1.5g`, `30s` or `1h30m`.
fn number_or_string(description: &str) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Integer, Type::String]))
        .description(Some(description))
        .into()
}

impl utoipa::PartialSchema for ByteSize {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        number_or_string("A size: bytes as an integer, or a string such as `512m` or `1.5g`.")
    }
}
impl utoipa::ToSchema for ByteSize {}

impl utoipa::PartialSchema for DurationSpec {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        number_or_string("A duration: seconds as an integer, or a string such as `30s` or `1h30m`.")
    }
}
impl utoipa::ToSchema for DurationSpec {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_like_docker() {
        let cases = [
            ("1024", 1024),
            ("1k", 1024),
            ("64m", 64 << 20),
            ("64MB", 64 << 20),
            ("1GiB", 1 << 30),
            ("1.5g", 3 << 29),
            (" 2 m ", 2 << 20),
        ];
        for (input, want) in cases {
            assert_eq!(input.parse::<ByteSize>(), Ok(ByteSize(want)), "{input}");
        }
        for bad in ["", "-1m", "12q", "m", "1.2.3k"] {
            assert!(bad.parse::<ByteSize>().is_err(), "{bad} should fail");
        }
    }

    #[test]
    fn sizes_display_compactly() {
        assert_eq!(ByteSize::mib(512).to_string(), "512MiB");
        assert_eq!(ByteSize(1536).to_string(), "1.5KiB");
        assert_eq!(ByteSize(12).to_string(), "12B");
    }

    #[test]
    fn negative_json_size_is_rejected() {
        let err = serde_json::from_str::<ByteSize>("-5").unwrap_err().to_string();
        assert!(err.contains("negative"), "{err}");
    }

    #[test]
    fn durations_parse() {
        assert_eq!("90".parse::<DurationSpec>(), Ok(DurationSpec::secs(90)));
        assert_eq!("1m30s".parse::<DurationSpec>(), Ok(DurationSpec::secs(90)));
        assert!("soon".parse::<DurationSpec>().is_err());
    }
}
