//! The JSON Schema of db.json (`schema/db.schema.json`) is the one the Rust types give, and the
//! shipped db.json fits it. (CI also validates db.json with check-jsonschema, and checks that a
//! wrong schema version or a wrongly typed field is rejected.) `CAPCACHE_BLESS=1 cargo test --test
//! schema` rewrites the file after a change to the types.

use std::path::PathBuf;

fn schema_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("schema/db.schema.json")
}

#[test]
fn the_committed_schema_is_the_one_the_types_give() {
    let mut want = serde_json::to_string_pretty(&capcache::record::json_schema()).unwrap();
    want.push('\n');
    if std::env::var_os("CAPCACHE_BLESS").is_some() {
        std::fs::write(schema_path(), &want).unwrap();
    }
    let have = std::fs::read_to_string(schema_path()).unwrap();
    assert!(have == want, "schema/db.schema.json is out of date: run CAPCACHE_BLESS=1 cargo test --test schema");
    let v: serde_json::Value = serde_json::from_str(&have).unwrap();
    assert_eq!(v["$schema"], "https://json-schema.org/draft/2020-12/schema");
    assert_eq!(v["properties"]["schema"]["const"], 1);
}
