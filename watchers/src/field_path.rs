//! The path of the field a schema error is about, in the type's names only.
//!
//! `serde_path_to_error` records the keys and indices the deserializer
//! went through, but a key there is whatever the file said: a struct's
//! field name and a `HashMap<String, _>`'s key look the same, and the
//! second is content (a map of tokens keyed by client, of users keyed by
//! name). So the path is walked once more through the type's own
//! `Deserialize`, with no document: a step is shown only when the type
//! names it, as one of a struct's fields or an enum's variants (`&'static
//! str`s of the type); a map's key, and any step after the walk can no
//! longer follow the type (a flattened or untagged field, a custom
//! `Deserialize`), shows as `<key>`.

use std::cell::RefCell;
use std::fmt::Write;

use serde::de::value::{Error, StrDeserializer};
use serde::de::{
    self, DeserializeOwned, DeserializeSeed, EnumAccess, IntoDeserializer, MapAccess, SeqAccess,
    VariantAccess, Visitor,
};
use serde_path_to_error::Segment;

/// A step of the path as shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// A field or variant name of the type.
    Name(&'static str),
    Index(usize),
    /// A key the type does not name.
    Key,
}

/// The path of `segments` as `limits.max_connections`, `servers[2].port`,
/// `routes.<key>.timeout_ms`; empty for the root.
pub(crate) fn render<T: DeserializeOwned>(segments: &[&Segment]) -> String {
    let named = RefCell::new(Vec::with_capacity(segments.len()));
    // The walk always ends in an error: it stops where the path ends, or
    // where it cannot follow the type.
    let _ = T::deserialize(Walk {
        rest: segments,
        named: &named,
    });
    let named = named.into_inner();
    let mut out = String::new();
    for (at, segment) in segments.iter().enumerate() {
        let step = match segment {
            Segment::Seq { index } => Step::Index(*index),
            _ => named.get(at).copied().unwrap_or(Step::Key),
        };
        match step {
            Step::Index(index) => {
                let _ = write!(out, "[{index}]");
            }
            Step::Name(name) => push_name(&mut out, name),
            Step::Key => push_name(&mut out, "<key>"),
        }
    }
    out
}

fn push_name(out: &mut String, name: &str) {
    if !out.is_empty() {
        out.push('.');
    }
    out.push_str(name);
}

/// A deserializer with no document that leads `T`'s `Deserialize` down
/// `rest` and records, for each step, whether the type named it.
struct Walk<'a> {
    rest: &'a [&'a Segment],
    named: &'a RefCell<Vec<Step>>,
}

impl<'a> Walk<'a> {
    fn stop<V>(&self) -> Result<V, Error> {
        Err(de::Error::custom("end of the walk"))
    }

    fn next(&self) -> Walk<'a> {
        Walk {
            rest: self.rest.get(1..).unwrap_or_default(),
            named: self.named,
        }
    }

    fn key(&self) -> Option<&'a str> {
        match self.rest.first() {
            Some(Segment::Map { key }) => Some(key),
            _ => None,
        }
    }

    /// A struct (or struct variant) with `fields`: the next step is a field
    /// if the type has one by that name.
    fn structure<'de, V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let field = self
            .key()
            .and_then(|key| fields.iter().find(|field| **field == key));
        match field {
            Some(field) => {
                self.named.borrow_mut().push(Step::Name(field));
                visitor.visit_map(Entry {
                    key: Some(field),
                    value: Some(self.next()),
                })
            }
            None => self.stop(),
        }
    }
}

impl<'de> de::Deserializer<'de> for Walk<'_> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Error> {
        self.stop()
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.structure(fields, visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.key() {
            Some(key) => {
                self.named.borrow_mut().push(Step::Key);
                visitor.visit_map(Entry {
                    key: Some(key),
                    value: Some(self.next()),
                })
            }
            None => self.stop(),
        }
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.rest.first() {
            // Every element of a sequence has the same type: the first
            // stands for the one at the index.
            Some(Segment::Seq { index }) => {
                self.named.borrow_mut().push(Step::Index(*index));
                visitor.visit_seq(Element(Some(self.next())))
            }
            _ => self.stop(),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let variant = match self.rest.first() {
            Some(Segment::Enum { variant }) => variants.iter().find(|name| **name == variant),
            _ => None,
        };
        match variant {
            Some(variant) => {
                self.named.borrow_mut().push(Step::Name(variant));
                visitor.visit_enum(Variant {
                    name: variant,
                    content: self.next(),
                })
            }
            None => self.stop(),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct tuple tuple_struct identifier ignored_any
    }
}

/// A map or struct of one entry: the path's next key and what is under it.
struct Entry<'a> {
    key: Option<&'a str>,
    value: Option<Walk<'a>>,
}

impl<'de> MapAccess<'de> for Entry<'_> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        self.key
            .take()
            .map(|key| seed.deserialize(StrDeserializer::new(key)))
            .transpose()
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        match self.value.take() {
            Some(walk) => seed.deserialize(walk),
            None => Err(de::Error::custom("no value")),
        }
    }
}

/// A sequence of one element, the path's next step.
struct Element<'a>(Option<Walk<'a>>);

impl<'de> SeqAccess<'de> for Element<'_> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        self.0.take().map(|walk| seed.deserialize(walk)).transpose()
    }
}

/// An enum's variant, by the type's name for it, and its content.
struct Variant<'a> {
    name: &'static str,
    content: Walk<'a>,
}

impl<'de, 'a> EnumAccess<'de> for Variant<'a> {
    type Error = Error;
    type Variant = Walk<'a>;

    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, Walk<'a>), Error> {
        let name: StrDeserializer<'_, Error> = self.name.into_deserializer();
        Ok((seed.deserialize(name)?, self.content))
    }
}

impl<'de> VariantAccess<'de> for Walk<'_> {
    type Error = Error;

    fn unit_variant(self) -> Result<(), Error> {
        self.stop()
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Error> {
        seed.deserialize(self)
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, _visitor: V) -> Result<V::Value, Error> {
        self.stop()
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.structure(fields, visitor)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Config {
        servers: Vec<Server>,
        routes: HashMap<String, Route>,
        mode: Option<Mode>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Server {
        #[serde(rename = "listen-port")]
        port: u16,
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Route {
        timeout_ms: u64,
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    enum Mode {
        Tcp { port: u16 },
    }

    /// The path serde_path_to_error records for `json` read as a `Config`.
    fn path_of(json: &str) -> String {
        let mut deserializer = serde_json::Deserializer::from_str(json);
        let error = serde_path_to_error::deserialize::<_, Config>(&mut deserializer).unwrap_err();
        render::<Config>(&error.path().iter().collect::<Vec<_>>())
    }

    #[test]
    fn names_come_from_the_type_and_map_keys_are_hidden() {
        assert_eq!(
            path_of(r#"{"servers": [{"listen-port": 1}, {"listen-port": "x"}]}"#),
            "servers[1].listen-port"
        );
        assert_eq!(
            path_of(r#"{"servers": [], "routes": {"sk_live_1": {"timeout_ms": "x"}}}"#),
            "routes.<key>.timeout_ms"
        );
        assert_eq!(
            path_of(r#"{"servers": [], "routes": {}, "mode": {"Tcp": {"port": "x"}}}"#),
            "mode.Tcp.port"
        );
        assert_eq!(path_of("[]"), "");
    }
}
