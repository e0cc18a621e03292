//! The checking serializer behind [`check_json`](super::check_json): it walks what a value
//! serialises to without building it, and stops at the first violation.

use std::fmt;

use serde::Serialize;
use serde::ser::{self, Impossible};

use super::{Limit, MAX_JSON_DEPTH};

/// Walks `value`; on a violation, the limit and a phrase saying what was found where.
pub(super) fn check<T: Serialize + ?Sized>(value: &T) -> Result<(), (Limit, String)> {
    match value.serialize(&mut Checker { depth: 0 }) {
        Ok(()) | Err(Violation::Custom) => Ok(()),
        Err(Violation::Found { problem, mut path }) => {
            path.reverse();
            let mut text = String::new();
            for segment in &path {
                match segment {
                    Segment::Field(name) => {
                        if !text.is_empty() {
                            text.push('.');
                        }
                        text.push_str(name);
                    }
                    Segment::Index(i) => text.push_str(&format!("[{i}]")),
                }
            }
            let at = if text.is_empty() {
                String::new()
            } else {
                format!(" at `{text}`")
            };
            Err(match problem {
                Problem::Depth => (
                    Limit::JsonDepth,
                    format!("nests deeper than {MAX_JSON_DEPTH} levels{at}"),
                ),
                Problem::NonFinite => (
                    Limit::FiniteNumbers,
                    format!("holds a number that is not finite (NaN or infinity){at}"),
                ),
                Problem::Nul => (Limit::NoNul, format!("holds a NUL character (U+0000){at}")),
            })
        }
    }
}

#[derive(Debug)]
enum Problem {
    Depth,
    NonFinite,
    Nul,
}

#[derive(Debug)]
enum Segment {
    Field(String),
    Index(usize),
}

/// Why the walk stopped; the path is collected innermost first as the error travels up.
#[derive(Debug)]
enum Violation {
    Found {
        problem: Problem,
        path: Vec<Segment>,
    },
    Custom,
}

impl Violation {
    fn at(self, segment: impl FnOnce() -> Segment) -> Self {
        match self {
            Violation::Found { problem, mut path } => {
                path.push(segment());
                Violation::Found { problem, path }
            }
            Violation::Custom => Violation::Custom,
        }
    }

    fn found(problem: Problem) -> Self {
        Violation::Found {
            problem,
            path: Vec::new(),
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?}")
    }
}

impl std::error::Error for Violation {}

impl ser::Error for Violation {
    fn custom<T: fmt::Display>(_msg: T) -> Self {
        Violation::Custom
    }
}

/// A serializer that produces nothing and checks everything.
struct Checker {
    depth: usize,
}

impl Checker {
    /// Enters `levels` levels of nesting.
    fn enter(&mut self, levels: usize) -> Result<(), Violation> {
        self.depth += levels;
        if self.depth > MAX_JSON_DEPTH {
            return Err(Violation::found(Problem::Depth));
        }
        Ok(())
    }

    fn text(text: &str) -> Result<(), Violation> {
        if text.contains('\0') {
            return Err(Violation::found(Problem::Nul));
        }
        Ok(())
    }
}

/// One array or object being walked.
struct Level<'a> {
    checker: &'a mut Checker,
    /// Levels to leave when done (2 for an enum variant holding a tuple or struct).
    levels: usize,
    index: usize,
}

impl Level<'_> {
    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Violation> {
        let index = self.index;
        self.index += 1;
        value
            .serialize(&mut *self.checker)
            .map_err(|v| v.at(|| Segment::Index(index)))
    }

    fn field<T: Serialize + ?Sized>(&mut self, key: &str, value: &T) -> Result<(), Violation> {
        Checker::text(key).map_err(|v| v.at(|| Segment::Field(key.to_owned())))?;
        value
            .serialize(&mut *self.checker)
            .map_err(|v| v.at(|| Segment::Field(key.to_owned())))
    }

    fn end(self) -> Result<(), Violation> {
        self.checker.depth -= self.levels;
        Ok(())
    }
}

impl<'a> ser::Serializer for &'a mut Checker {
    type Ok = ();
    type Error = Violation;
    type SerializeSeq = Level<'a>;
    type SerializeTuple = Level<'a>;
    type SerializeTupleStruct = Level<'a>;
    type SerializeTupleVariant = Level<'a>;
    type SerializeMap = Level<'a>;
    type SerializeStruct = Level<'a>;
    type SerializeStructVariant = Level<'a>;

    fn serialize_bool(self, _: bool) -> Result<(), Violation> {
        Ok(())
    }
    fn serialize_i8(self, _: i8) -> Result<(), Violation> {
        Ok(())
    }
    fn serialize_i16(self, _: i16) -> Result<(), Violation> {
        Ok(())
    }
    fn serialize_i32(self, _: i32) -> Result<(), Violation> {
        Ok(())
    }
    fn serialize_i64(self, _: i64) -> Result<(), Violation> {
        Ok(())
    }
    fn serialize_i128(self, _: i128) -> Result<(), Violation> {
        Ok(())
    }
    fn serialize_u8(self, _: u8) -> Result<(), Violation> {
        Ok(())
    }
    fn serialize_u16(self, _: u16) -> Result<(), Violation> {
        Ok(())
    }
    fn serialize_u32(self, _: u32) -> Result<(), Violation> {
        Ok(())
    }
    fn serialize_u64(self, _: u64) -> Result<(), Violation> {
        Ok(())
    }
    fn serialize_u128(self, _: u128) -> Result<(), Violation> {
        Ok(())
    }
    fn serialize_f32(self, v: f32) -> Result<(), Violation> {
        self.serialize_f64(f64::from(v))
    }
    fn serialize_f64(self, v: f64) -> Result<(), Violation> {
        if v.is_finite() {
            Ok(())
        } else {
            Err(Violation::found(Problem::NonFinite))
        }
    }
    fn serialize_char(self, v: char) -> Result<(), Violation> {
        if v == '\0' {
            return Err(Violation::found(Problem::Nul));
        }
        Ok(())
    }
    fn serialize_str(self, v: &str) -> Result<(), Violation> {
        Checker::text(v)
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<(), Violation> {
        // JSON writes bytes as an array of numbers.
        self.enter(1)?;
        self.depth -= 1;
        Ok(())
    }
    fn serialize_none(self) -> Result<(), Violation> {
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Violation> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Violation> {
        Ok(())
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), Violation> {
        Ok(())
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<(), Violation> {
        Checker::text(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), Violation> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Violation> {
        self.enter(1)?;
        let mut level = Level {
            checker: self,
            levels: 1,
            index: 0,
        };
        level.field(variant, value)?;
        level.end()
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Level<'a>, Violation> {
        self.enter(1)?;
        Ok(Level {
            checker: self,
            levels: 1,
            index: 0,
        })
    }
    fn serialize_tuple(self, len: usize) -> Result<Level<'a>, Violation> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, _: &'static str, len: usize) -> Result<Level<'a>, Violation> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Level<'a>, Violation> {
        Checker::text(variant)?;
        self.enter(2)?;
        Ok(Level {
            checker: self,
            levels: 2,
            index: 0,
        })
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Level<'a>, Violation> {
        self.serialize_seq(None)
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Level<'a>, Violation> {
        self.serialize_seq(None)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Level<'a>, Violation> {
        Checker::text(variant)?;
        self.enter(2)?;
        Ok(Level {
            checker: self,
            levels: 2,
            index: 0,
        })
    }
    fn collect_str<T: fmt::Display + ?Sized>(self, value: &T) -> Result<(), Violation> {
        use fmt::Write;
        struct NoNul(bool);
        impl Write for NoNul {
            fn write_str(&mut self, s: &str) -> fmt::Result {
                self.0 |= s.contains('\0');
                Ok(())
            }
        }
        let mut sink = NoNul(false);
        let _ = write!(sink, "{value}");
        if sink.0 {
            return Err(Violation::found(Problem::Nul));
        }
        Ok(())
    }
}

impl ser::SerializeSeq for Level<'_> {
    type Ok = ();
    type Error = Violation;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Violation> {
        self.element(value)
    }
    fn end(self) -> Result<(), Violation> {
        Level::end(self)
    }
}

impl ser::SerializeTuple for Level<'_> {
    type Ok = ();
    type Error = Violation;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Violation> {
        self.element(value)
    }
    fn end(self) -> Result<(), Violation> {
        Level::end(self)
    }
}

impl ser::SerializeTupleStruct for Level<'_> {
    type Ok = ();
    type Error = Violation;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Violation> {
        self.element(value)
    }
    fn end(self) -> Result<(), Violation> {
        Level::end(self)
    }
}

impl ser::SerializeTupleVariant for Level<'_> {
    type Ok = ();
    type Error = Violation;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Violation> {
        self.element(value)
    }
    fn end(self) -> Result<(), Violation> {
        Level::end(self)
    }
}

impl ser::SerializeMap for Level<'_> {
    type Ok = ();
    type Error = Violation;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Violation> {
        key.serialize(KeyText { capture: false }).map(drop)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Violation> {
        self.element(value)
    }
    fn serialize_entry<K: Serialize + ?Sized, V: Serialize + ?Sized>(
        &mut self,
        key: &K,
        value: &V,
    ) -> Result<(), Violation> {
        let index = self.index;
        self.index += 1;
        // The key's text is only made when a violation needs it for its path.
        let segment = || match key.serialize(KeyText { capture: true }) {
            Ok(Some(name)) => Segment::Field(name),
            _ => Segment::Index(index),
        };
        key.serialize(KeyText { capture: false })
            .map_err(|v| v.at(|| Segment::Index(index)))?;
        value
            .serialize(&mut *self.checker)
            .map_err(|v| v.at(segment))
    }
    fn end(self) -> Result<(), Violation> {
        Level::end(self)
    }
}

impl ser::SerializeStruct for Level<'_> {
    type Ok = ();
    type Error = Violation;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Violation> {
        self.field(key, value)
    }
    fn end(self) -> Result<(), Violation> {
        Level::end(self)
    }
}

impl ser::SerializeStructVariant for Level<'_> {
    type Ok = ();
    type Error = Violation;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Violation> {
        self.field(key, value)
    }
    fn end(self) -> Result<(), Violation> {
        Level::end(self)
    }
}

/// Checks a map key; with `capture`, also returns its text when it is a string (JSON keys are).
struct KeyText {
    capture: bool,
}

impl ser::Serializer for KeyText {
    type Ok = Option<String>;
    type Error = Violation;
    type SerializeSeq = Impossible<Option<String>, Violation>;
    type SerializeTuple = Impossible<Option<String>, Violation>;
    type SerializeTupleStruct = Impossible<Option<String>, Violation>;
    type SerializeTupleVariant = Impossible<Option<String>, Violation>;
    type SerializeMap = Impossible<Option<String>, Violation>;
    type SerializeStruct = Impossible<Option<String>, Violation>;
    type SerializeStructVariant = Impossible<Option<String>, Violation>;

    fn serialize_bool(self, _: bool) -> Result<Self::Ok, Violation> {
        Ok(None)
    }
    fn serialize_i8(self, _: i8) -> Result<Self::Ok, Violation> {
        Ok(None)
    }
    fn serialize_i16(self, _: i16) -> Result<Self::Ok, Violation> {
        Ok(None)
    }
    fn serialize_i32(self, _: i32) -> Result<Self::Ok, Violation> {
        Ok(None)
    }
    fn serialize_i64(self, _: i64) -> Result<Self::Ok, Violation> {
        Ok(None)
    }
    fn serialize_u8(self, _: u8) -> Result<Self::Ok, Violation> {
        Ok(None)
    }
    fn serialize_u16(self, _: u16) -> Result<Self::Ok, Violation> {
        Ok(None)
    }
    fn serialize_u32(self, _: u32) -> Result<Self::Ok, Violation> {
        Ok(None)
    }
    fn serialize_u64(self, _: u64) -> Result<Self::Ok, Violation> {
        Ok(None)
    }
    fn serialize_f32(self, v: f32) -> Result<Self::Ok, Violation> {
        self.serialize_f64(f64::from(v))
    }
    fn serialize_f64(self, v: f64) -> Result<Self::Ok, Violation> {
        if v.is_finite() {
            Ok(None)
        } else {
            Err(Violation::found(Problem::NonFinite))
        }
    }
    fn serialize_char(self, v: char) -> Result<Self::Ok, Violation> {
        let mut text = String::new();
        text.push(v);
        self.serialize_str(&text)
    }
    fn serialize_str(self, v: &str) -> Result<Self::Ok, Violation> {
        if self.capture {
            return Ok(Some(v.escape_debug().to_string()));
        }
        Checker::text(v)?;
        Ok(None)
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<Self::Ok, Violation> {
        Ok(None)
    }
    fn serialize_none(self) -> Result<Self::Ok, Violation> {
        Ok(None)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<Self::Ok, Violation> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<Self::Ok, Violation> {
        Ok(None)
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<Self::Ok, Violation> {
        Ok(None)
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<Self::Ok, Violation> {
        self.serialize_str(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<Self::Ok, Violation> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<Self::Ok, Violation> {
        Err(Violation::Custom)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, Violation> {
        Err(Violation::Custom)
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, Violation> {
        Err(Violation::Custom)
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, Violation> {
        Err(Violation::Custom)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, Violation> {
        Err(Violation::Custom)
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, Violation> {
        Err(Violation::Custom)
    }
    fn serialize_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStruct, Violation> {
        Err(Violation::Custom)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, Violation> {
        Err(Violation::Custom)
    }
}
