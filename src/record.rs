//! The record schema (`db.json` schema 1, described in the README's record section and generated
//! as `schema/db.schema.json`): one model's capacity facts, the failures map, and the whole
//! database document.
//!
//! The types serialize with serde; the canonical text form (sorted keys, 2-space indent, trailing
//! newline) is produced by [`Db::to_canonical_json`] so that an unchanged database is byte-identical.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The schema version this build reads and writes.
pub const SCHEMA: u32 = 1;

/// Declares an enum whose values are kebab-case strings in JSON and in text: one list of names,
/// from which `ALL`, `as_str`, `Display`, `FromStr` and serde all come. The enum is open, as a
/// persisted schema must be: a name a newer capcache wrote is read as `Other(name)` (kept as text,
/// written back as it was, shown as unknown), not refused; names typed by a user (`FromStr`) must
/// be known.
macro_rules! string_enum {
    ($(#[$meta:meta])* pub enum $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
            /// A name this capcache does not know (from a newer one), kept as text.
            Other(&'static str),
        }

        impl $name {
            /// Every known value, in declaration order.
            pub const ALL: &[$name] = &[$($name::$variant,)+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text,)+ $name::Other(name) => name }
            }

            /// Whether this capcache knows the name.
            pub fn is_known(self) -> bool {
                !matches!(self, $name::Other(_))
            }

            /// How text output shows the value: its name, marked when this capcache does not
            /// know it (JSON output keeps the bare name).
            pub fn label(self) -> std::borrow::Cow<'static, str> {
                match self {
                    $name::Other(name) => format!("{name} (unknown to this capcache)").into(),
                    known => known.as_str().into(),
                }
            }

            /// The value named `s`: a known one, else `Other(s)` when `s` may be a name at all.
            pub fn read(s: &str) -> Result<$name, String> {
                match $name::ALL.iter().copied().find(|v| v.as_str() == s) {
                    Some(v) => Ok(v),
                    None => unknown_name(s).map($name::Other),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<$name, String> {
                $name::ALL.iter().copied().find(|v| v.as_str() == s).ok_or_else(|| {
                    let all: Vec<&str> = $name::ALL.iter().map(|v| v.as_str()).collect();
                    format!(
                        "unknown {} {}; known: {}",
                        stringify!($name).to_lowercase(),
                        crate::id::quote(s),
                        all.join(", ")
                    )
                })
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl schemars::JsonSchema for $name {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }
            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                let names: Vec<&str> = $name::ALL.iter().map(|v| v.as_str()).collect();
                schemars::json_schema!({ "type": "string", "enum": names })
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<$name, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                $name::read(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

/// The longest name of an enum value a store may hold.
pub const MAX_NAME: usize = 64;

/// The most distinct unknown names a process keeps (each is kept for the life of the process, so
/// that the enums stay `Copy`); a store naming more is refused.
pub const MAX_UNKNOWN_NAMES: usize = 1024;

/// `s` as an unknown name, interned: at most [`MAX_NAME`] bytes of lowercase letters, digits,
/// `-`, `_` and `.`, and at most [`MAX_UNKNOWN_NAMES`] distinct ones.
fn unknown_name(s: &str) -> Result<&'static str, String> {
    use std::collections::BTreeSet;
    use std::sync::Mutex;
    static NAMES: Mutex<BTreeSet<&'static str>> = Mutex::new(BTreeSet::new());
    let ok = !s.is_empty()
        && s.len() <= MAX_NAME
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.'));
    if !ok {
        return Err(format!(
            "{} is not a name (at most {MAX_NAME} lowercase letters, digits, '-', '_' or '.')",
            crate::id::quote(s)
        ));
    }
    let mut names = NAMES.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(name) = names.get(s) {
        return Ok(name);
    }
    if names.len() >= MAX_UNKNOWN_NAMES {
        return Err(format!("more than {MAX_UNKNOWN_NAMES} unknown names: {} is one too many", crate::id::quote(s)));
    }
    let name: &'static str = Box::leak(s.to_owned().into_boxed_str());
    names.insert(name);
    Ok(name)
}

string_enum! {
    /// A strategy, by the name records use. `ALL` is the chain order: `download` runs only when
    /// allowed, and then before `config` (whoever allows a download wants an exact count).
    pub enum Strategy {
        HubMetadata = "hub-metadata",
        Safetensors = "safetensors",
        Pytorch = "pytorch",
        Gguf = "gguf",
        Download = "download",
        Config = "config",
    }
}

string_enum! {
    /// Why a strategy did not answer, or why a model could not be resolved.
    pub enum Outcome {
        /// Nothing for this strategy in the repository.
        Absent = "absent",
        /// The strategy could answer but was not allowed to (downloads).
        NotAllowed = "not-allowed",
        Gated = "gated",
        NotFound = "not-found",
        RevisionNotFound = "revision-not-found",
        EntryNotFound = "entry-not-found",
        Unauthorized = "unauthorized",
        RateLimited = "rate-limited",
        ServerError = "server-error",
        HttpError = "http-error",
        NetworkError = "network-error",
        MalformedResponse = "malformed-response",
        RangeUnsupported = "range-unsupported",
        ChangedUpstream = "changed-upstream",
        /// A file over its cap, or a model over its byte budget.
        TooLarge = "too-large",
        IoError = "io-error",
        InvalidFile = "invalid-file",
        InvalidConfig = "invalid-config",
        UnsupportedArchitecture = "unsupported-architecture",
        DownloadTooLarge = "download-too-large",
        NoDiskSpace = "no-disk-space",
        DownloadFailed = "download-failed",
        /// The model's wall-clock deadline passed.
        Timeout = "timeout",
        /// A bug: capcache panicked on this model.
        InternalError = "internal-error",
        /// The Hub is offline (`HF_HUB_OFFLINE`) and the local cache cannot answer.
        Offline = "offline",
        Unresolved = "unresolved",
    }
}

string_enum! {
    /// Where a record's files were read.
    pub enum Origin {
        /// The Hugging Face Hub (at the record's `endpoint` when it names one).
        Hub = "hub",
        /// A local folder: a model mirror, or the Hugging Face cache standing in for an offline Hub.
        Local = "local",
    }
}

/// How the strategy chain treats a miss.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// Nothing for this strategy here: try the next one.
    Absent,
    /// This strategy's files are unusable (malformed, lying, over a cap): try the next one.
    Invalid,
    /// The source misbehaved for now (rate limit, server error, network, a malformed answer, a file
    /// changing under us): stop, fail the model for this run, keep its record, retry next run.
    Transient,
    /// The model cannot be read at all (gated, missing, over its deadline or budget, a bug): stop.
    Fatal,
}

impl Outcome {
    /// The severity this outcome usually has (a per-file cap and a per-model budget share
    /// `too-large` but not their severity: the strategy that raises a miss says which).
    pub fn severity(self) -> Severity {
        use Outcome::*;
        match self {
            Absent | NotAllowed => Severity::Absent,
            RateLimited | ServerError | NetworkError | MalformedResponse | ChangedUpstream => Severity::Transient,
            Gated | NotFound | RevisionNotFound | Unauthorized | Timeout | InternalError | Offline => Severity::Fatal,
            EntryNotFound
            | HttpError
            | RangeUnsupported
            | TooLarge
            | IoError
            | InvalidFile
            | InvalidConfig
            | UnsupportedArchitecture
            | DownloadTooLarge
            | NoDiskSpace
            | DownloadFailed
            | Unresolved
            | Other(_) => Severity::Invalid,
        }
    }
}

/// The whole published database.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Db {
    /// The schema version: 1.
    #[schemars(extend("const" = 1))]
    pub schema: u32,
    #[serde(default)]
    pub models: BTreeMap<String, Record>,
    #[serde(default)]
    pub failures: BTreeMap<String, Failure>,
}

impl Default for Db {
    fn default() -> Self {
        Db { schema: SCHEMA, models: BTreeMap::new(), failures: BTreeMap::new() }
    }
}

/// The JSON Schema of `db.json` (committed as `schema/db.schema.json`, which CI checks the shipped
/// `db.json` against).
pub fn json_schema() -> serde_json::Value {
    let mut schema = serde_json::to_value(schemars::schema_for!(Db)).expect("schemas serialize");
    schema["$id"] = "https://github.com/capcache/capcache/schema/db.schema.json".into();
    schema["title"] = "capcache db.json".into();
    schema["description"] =
        "capcache's cache of model capacity facts: parameter counts per dtype, weight bytes, KV-cache and state sizes, architecture, and failures.".into();
    schema
}

impl Db {
    /// Canonical text: keys sorted at every level, 2-space indent, trailing newline.
    pub fn to_canonical_json(&self) -> String {
        // Going through `Value` (a BTreeMap without serde_json's preserve_order) sorts every object.
        let value = serde_json::to_value(self).expect("records serialize to JSON");
        let mut text = serde_json::to_string_pretty(&value).expect("JSON values print");
        text.push('\n');
        text
    }
}

/// One model's facts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Record {
    /// The commit sha the facts were read at. For `source: local` it is the folder's snapshot name
    /// (in the shipped db.json a SHA-1 of the snapshot's files), not a Hub commit.
    pub revision: String,
    /// Where the files were read: `hub` or `local` (absent in records made before capcache said).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<Origin>,
    /// The Hub endpoint the files were read from, when it is not https://huggingface.co.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// The strategy that produced `parameters`.
    pub strategy: Strategy,
    /// Whether `parameters` were read from the checkpoint (true) or predicted from the config (false).
    pub exact: bool,
    /// Set when the config strategy did not know the architecture and assumed a generic decoder.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub approximate: bool,
    /// Stored tensor elements per dtype name.
    pub parameters: BTreeMap<String, u64>,
    /// Sum of `parameters`.
    pub total: u64,
    /// What an inference engine holds: the unquantized parameter count as transformers reports it
    /// (tied weights once, buffers excluded, packed values unpacked), for every strategy.
    pub logical_parameters: u64,
    /// Mixture-of-experts models only: the parameters one token uses, `logical_parameters` minus,
    /// over the MoE layers, the routed-expert parameters times `1 - k/E` (k experts chosen of E
    /// routed ones; shared experts, dense layers, routers and towers counted whole). Rounded down.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_parameters: Option<u64>,
    /// Config estimates only: what a checkpoint of this architecture may store beyond the layout
    /// transformers saves today (a tied head stored anyway, buffers), so a stored total is `total`
    /// plus some of these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub may_also_store: Vec<MayAlsoStore>,
    /// Adapter-only repositories (a PEFT adapter, no model weights of their own): the record counts
    /// the adapter's tensors, which are loaded on top of `adapter.base_model`; absent for a model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adapter: Option<Adapter>,
    /// Bytes of the stored weights.
    pub weight_bytes: u64,
    /// The checkpoint's main dtype.
    pub dtype: Option<String>,
    /// Weight files read.
    pub files: Vec<String>,
    /// Facts from `config.json` (null when no config was readable).
    pub architecture: Option<Architecture>,
    /// KV cache and recurrent state sizes (null without a usable config).
    #[serde(flatten)]
    pub capacity: Capacity,
    /// Other counts beside the winning one, by the strategy that made them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub cross_check: BTreeMap<Strategy, u64>,
    /// Strategies tried before the one that won, and why each did not.
    #[serde(default)]
    pub tried: Vec<Tried>,
    /// Things a reader should know: unknown dtypes, disagreements, approximations.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// The chain options the record was made with, where they are not the defaults: a build with
    /// options that could do better (`--verify`, `--allow-download`, another `--gguf`) re-resolves
    /// the model even at an unchanged commit.
    #[serde(default, skip_serializing_if = "MadeWith::is_default")]
    pub made_with: MadeWith,
    /// When this record last changed (RFC 3339, UTC).
    pub resolved_at: String,
}

/// Tensors a checkpoint may store beside the ones transformers saves today.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct MayAlsoStore {
    /// What they are (`tied lm_head stored`, `causal-mask buffers (h.N.attn.bias)`, `rotary inv_freq`).
    pub what: String,
    /// Their elements.
    pub parameters: u64,
}

/// The adapter an adapter-only repository holds, as its `adapter_config.json` describes it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Adapter {
    /// `base_model_name_or_path`: the model the adapter is loaded on (a Hub id, or a path on the
    /// publisher's machine); null when the file does not say, or says it in a form not kept (not
    /// a string, over 512 bytes).
    #[serde(default)]
    pub base_model: Option<String>,
    /// `peft_type` (`LORA`, `IA3`, ...), when the file says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peft_type: Option<String>,
}

/// Chain options a record remembers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct MadeWith {
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub verify: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_download: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gguf: Option<String>,
}

impl MadeWith {
    pub fn is_default(&self) -> bool {
        *self == MadeWith::default()
    }
}

impl Record {
    /// True when `other` states the same facts (everything but `resolved_at`).
    pub fn same_facts(&self, other: &Record) -> bool {
        let mut a = self.clone();
        a.resolved_at.clone_from(&other.resolved_at);
        a == *other
    }

    /// How good the facts are: read from the checkpoint beats an estimate, which beats the
    /// approximate estimate of an unknown architecture.
    pub fn quality(&self) -> u8 {
        match (self.exact, self.approximate) {
            (true, _) => 2,
            (false, false) => 1,
            (false, true) => 0,
        }
    }
}

/// What a planner prices memory with beside the weights, at the model dtype (`dtype`; F16 for
/// block-quantized GGUF weights), and as element counts for planners that use their own dtype.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Capacity {
    /// KV cache per token, over every layer that keeps one (full, sliding-window and chunked
    /// attention; not state-space or linear-attention layers).
    pub kv_cache_bytes_per_token: Option<u64>,
    #[serde(default)]
    pub kv_cache_elements_per_token: Option<u64>,
    /// Recurrent state per sequence, whatever its length: convolution and SSM state of
    /// state-space layers, state of linear-attention and short-convolution layers; 0 for a model
    /// without such layers.
    #[serde(default)]
    pub state_bytes_per_sequence: Option<u64>,
    #[serde(default)]
    pub state_elements_per_sequence: Option<u64>,
}

/// Architecture facts a KV-cache / parallelism planner needs, with transformers' defaults applied
/// where the config leaves a value out.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Architecture {
    pub model_type: Option<String>,
    #[serde(default)]
    pub architectures: Vec<String>,
    pub num_hidden_layers: Option<u64>,
    pub hidden_size: Option<u64>,
    pub num_attention_heads: Option<u64>,
    pub num_key_value_heads: Option<u64>,
    pub head_dim: Option<u64>,
    /// The MLP width, normalised across families (`intermediate_size`, OPT's `ffn_dim`, GPT-2's
    /// `n_inner` or its `4 * n_embd` default, `d_ff`, `ffn_hidden_size`, ...); for MoE models the
    /// config's `intermediate_size` where the family has one, else the expert width; null without
    /// an MLP. Tensor-parallel planners need it to divide evenly.
    #[serde(default)]
    pub intermediate_size: Option<u64>,
    pub vocab_size: Option<u64>,
    pub max_position_embeddings: Option<u64>,
    pub tie_word_embeddings: Option<bool>,
    /// Token-mixing layers of each kind (a layer with attention and a state-space mixer side by
    /// side counts in both).
    #[serde(default)]
    pub layer_types: Option<LayerTypes>,
    /// The window of the sliding-window attention layers.
    #[serde(default)]
    pub sliding_window: Option<u64>,
    /// The chunk of the chunked-attention layers (Llama 4).
    #[serde(default)]
    pub attention_chunk_size: Option<u64>,
    pub quantization: Option<Quantization>,
    /// The config's own `quantization_config`, verbatim.
    #[serde(default)]
    pub quantization_config: Option<serde_json::Value>,
    /// The config's own `torch_dtype` (or `dtype`) string, verbatim.
    #[serde(default)]
    pub torch_dtype: Option<String>,
    pub moe: Option<Moe>,
    pub mla: Option<Mla>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Layers by the way they mix tokens (kinds with no layer are left out).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LayerTypes {
    /// Attention over the whole context: a KV cache growing with it.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub full_attention: u64,
    /// Attention over the last `sliding_window` tokens: a KV cache capped at the window.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub sliding_attention: u64,
    /// Attention within chunks of `attention_chunk_size` tokens: a KV cache capped at the chunk.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub chunked_attention: u64,
    /// Linear attention (Gated DeltaNet, lightning attention): a fixed-size state, no KV cache.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub linear_attention: u64,
    /// State-space (Mamba, Mamba-2) mixers: a fixed-size convolution and SSM state.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub mamba: u64,
    /// Short gated convolutions (LFM2): a fixed-size convolution state.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub conv: u64,
}

/// `quantization_config`, summarized.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Quantization {
    pub method: String,
    pub bits: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_size: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
}

/// Mixture-of-experts facts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Moe {
    pub num_experts: u64,
    pub experts_per_token: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_shared_experts: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moe_intermediate_size: Option<u64>,
}

/// Multi-head latent attention (DeepSeek V2/V3) facts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Mla {
    pub kv_lora_rank: u64,
    pub qk_rope_head_dim: u64,
}

/// One strategy that did not produce the record, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Tried {
    pub strategy: Strategy,
    pub outcome: Outcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// A model that could not be resolved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Failure {
    pub outcome: Outcome,
    pub message: String,
    pub at: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tried: Vec<Tried>,
}

impl Failure {
    /// True when `other` states the same failure (everything but `at`).
    pub fn same_facts(&self, other: &Failure) -> bool {
        self.outcome == other.outcome && self.message == other.message && self.tried == other.tried
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_sorts_keys_and_ends_with_newline() {
        let mut db = Db::default();
        db.failures.insert(
            "b/b".into(),
            Failure { outcome: Outcome::Gated, message: "m".into(), at: "t".into(), tried: vec![] },
        );
        let text = db.to_canonical_json();
        assert!(text.ends_with("}\n"));
        let failures = text.find("\"failures\"").unwrap();
        let models = text.find("\"models\"").unwrap();
        let schema = text.find("\"schema\"").unwrap();
        assert!(failures < models && models < schema, "{text}");
        assert!(text.contains("\n  \"schema\": 1"), "2-space indent: {text}");
        assert!(text.contains("\"outcome\": \"gated\""), "{text}");
    }

    #[test]
    fn names_round_trip_through_text_and_json() {
        for o in Outcome::ALL {
            assert_eq!(o.as_str().parse::<Outcome>(), Ok(*o));
            assert_eq!(serde_json::to_string(o).unwrap(), format!("\"{o}\""));
        }
        for s in Strategy::ALL {
            assert_eq!(serde_json::from_str::<Strategy>(&format!("\"{s}\"")).unwrap(), *s);
        }
        assert!("nope".parse::<Strategy>().unwrap_err().contains("hub-metadata"));
        assert!("exploded".parse::<Outcome>().is_err(), "a name typed by a user must be known");
    }

    #[test]
    fn unknown_names_from_a_newer_capcache_are_kept_as_text() {
        let o: Outcome = serde_json::from_str("\"quota-exceeded\"").unwrap();
        assert_eq!(o, Outcome::Other("quota-exceeded"));
        assert!(!o.is_known() && Outcome::Gated.is_known());
        assert_eq!(serde_json::to_string(&o).unwrap(), "\"quota-exceeded\"");
        assert_eq!(o.severity(), Severity::Invalid);
        let s: Strategy = serde_json::from_str("\"onnx\"").unwrap();
        assert_eq!((s.as_str(), s.to_string()), ("onnx", "onnx".to_owned()));
        assert_eq!((s.label(), Strategy::Config.label()), ("onnx (unknown to this capcache)".into(), "config".into()));
        // Interned: the same name is the same value.
        assert_eq!(serde_json::from_str::<Strategy>("\"onnx\"").unwrap(), s);
        for bad in ["", "Has Space", "\\u001b[2J", &"x".repeat(MAX_NAME + 1)] {
            assert!(serde_json::from_str::<Outcome>(&format!("\"{bad}\"")).is_err(), "{bad}");
        }
    }
}
