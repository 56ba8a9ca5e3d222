use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Value, json};

/// What serde_json's own serializer writes with [`super::super::JsonFormatter`]: the
/// reference.
fn reference<T: Serialize + ?Sized>(v: &T) -> String {
    let mut out = Vec::new();
    let f = super::super::JsonFormatter::default();
    v.serialize(&mut serde_json::Serializer::with_formatter(&mut out, f))
        .expect("json");
    String::from_utf8(out).expect("utf-8")
}

fn ours<T: Serialize + ?Sized>(v: &T) -> String {
    let mut out = Vec::new();
    v.serialize(&mut super::Pretty::new(&mut out))
        .expect("json");
    String::from_utf8(out).expect("utf-8")
}

#[derive(Serialize)]
enum Kind {
    Unit,
    New(u32),
    Pair(i8, &'static str),
    Named { a: Option<f64>, b: Vec<u8> },
    Empty {},
}

#[derive(Serialize)]
struct Unit;

#[derive(Serialize)]
struct Doc<'a> {
    #[serde(rename = "in")]
    name: &'a str,
    kinds: Vec<Kind>,
    ints: BTreeMap<i32, bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    skipped: Option<u8>,
    floats: [f64; 6],
    c: char,
    unit: Unit,
    tuple: (u128, i128, f32),
    empty: Vec<()>,
    map: BTreeMap<String, Value>,
    #[serde(flatten)]
    flat: BTreeMap<&'static str, u8>,
}

#[test]
fn the_same_bytes_as_serde_json() {
    let strings = [
        "",
        "plain ascii",
        "exactly8",
        "quote \" and \\ backslash",
        "tab\there, line\nbreak, \r, \u{8}, \u{c}, \u{0}",
        super::super::tests::HOSTILE,
        "é\u{2066}x, ⚠ ✓ 中文, a\u{301}, \u{7f}\u{9b}",
    ];
    for s in strings {
        assert_eq!(ours(s), reference(s), "{s:?}");
    }
    let doc = Doc {
        name: super::super::tests::HOSTILE,
        kinds: vec![
            Kind::Unit,
            Kind::New(7),
            Kind::Pair(-3, "x\"y"),
            Kind::Named {
                a: Some(f64::NAN),
                b: vec![1, 2],
            },
            Kind::Named { a: None, b: vec![] },
            Kind::Empty {},
        ],
        ints: [(-1, true), (0, false), (i32::MAX, true)].into(),
        skipped: None,
        floats: [0.0, -0.5, 1e300, f64::INFINITY, 0.1 + 0.2, 123456.0],
        c: '"',
        unit: Unit,
        tuple: (u128::MAX, i128::MIN, 1.5),
        empty: vec![],
        map: [
            ("nested".to_string(), json!({"a": [1, {"b": []}], "c": {}})),
            ("\u{1b}key".to_string(), json!(null)),
        ]
        .into(),
        flat: [("x", 1u8)].into(),
    };
    assert_eq!(ours(&doc), reference(&doc));
}

#[test]
fn random_values_the_same_bytes_as_serde_json() {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    const PIECES: [&str; 8] = ["a", "\"", "\\", "\n", "\u{202e}", "é", "\u{7}", "0.0.0.0/0"];
    fn value(next: &mut impl FnMut() -> u64, depth: u32) -> Value {
        fn text(next: &mut impl FnMut() -> u64, n: u64) -> String {
            (0..n).map(|_| PIECES[(next() % 8) as usize]).collect()
        }
        match next() % if depth > 4 { 5 } else { 7 } {
            0 => Value::Null,
            1 => Value::Bool(next().is_multiple_of(2)),
            2 => json!(next() as i64),
            3 => json!(f64::from_bits(next())),
            4 => {
                let n = next() % 12;
                Value::String(text(next, n))
            }
            5 => Value::Array((0..next() % 4).map(|_| value(next, depth + 1)).collect()),
            _ => Value::Object(
                (0..next() % 4)
                    .map(|_| {
                        let n = next() % 4;
                        (text(next, n), value(next, depth + 1))
                    })
                    .collect(),
            ),
        }
    }
    for _ in 0..2000 {
        let v = value(&mut next, 0);
        assert_eq!(ours(&v), reference(&v), "{v:?}");
    }
}
