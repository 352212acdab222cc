//! A bounded pickle reader for PyTorch checkpoints: it interprets opcodes into plain data in an
//! arena (no code runs, no global is imported, only names are recorded), then finds every tensor
//! rebuilt by `torch._utils._rebuild_tensor_v2` or `_rebuild_tensor_v3` (directly or inside
//! `_rebuild_parameter`) with its dtype, storage class, storage key, storage size, offset, shape
//! and stride. Like `torch.load(weights_only=True)`, it follows only the calls a weights file
//! makes; any other call (a pickled `nn.Module`, a renamed rebuild function) is refused, and so
//! are tensors capcache cannot count as stored elements of a dtype (sparse, meta, quantized,
//! tensor subclasses) and storage classes or dtypes torch does not define.
//!
//! Memory is bounded by construction: strings are spans of the input, never copies; the arena, the
//! stack, the memo and the container entries are capped ([`MAX_NODES`] and friends), so any
//! accepted pickle of at most 64 MiB costs at most ~200 MB; tensor names are built only for tensors
//! found (a path of parent links, not a string per visited value), each at most [`MAX_NAME`] bytes
//! and all together at most [`MAX_NAME_BYTES`]. Globals outside torch and a few plain containers
//! are refused; nesting is capped. A tensor whose extent does not fit its storage is an error.

use std::collections::{HashMap, HashSet};

/// The most nested containers the tensor search follows.
const MAX_DEPTH: u32 = 256;
/// The most values in the arena (a tensor costs about twenty).
pub const MAX_NODES: usize = 2_000_000;
/// The most values on the stack at once.
const MAX_STACK: usize = 1_000_000;
/// The most memo entries.
const MAX_MEMO: usize = 2_000_000;
/// The most entries in all lists, tuples and dicts together.
const MAX_ENTRIES: usize = 4_000_000;
/// The longest tensor name.
pub const MAX_NAME: usize = 4096;
/// The most bytes of tensor names in one pickle.
pub const MAX_NAME_BYTES: usize = 32 << 20;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PickleError {
    #[error("the pickle ends before its STOP opcode (read {0} bytes)")]
    Truncated(usize),
    #[error("unsupported pickle opcode 0x{op:02x} at byte {at}")]
    Opcode { op: u8, at: usize },
    #[error("the pickle references {0}, which a PyTorch checkpoint never needs; refusing to go on")]
    ForbiddenGlobal(String),
    #[error("malformed pickle at byte {at}: {what}")]
    Malformed { at: usize, what: &'static str },
    #[error("the pickle exceeds a safety limit: {0}")]
    Limit(&'static str),
    #[error("tensor {name:?}: {what}")]
    BadTensor { name: String, what: String },
    #[error("{0}")]
    Unsupported(String),
}

/// Index of a node in the arena.
type Id = u32;

/// A string: a span of the input bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    at: u32,
    len: u32,
}

#[derive(Debug, Clone)]
enum Node {
    None,
    Bool,
    Int(i64),
    Float,
    Str(Span),
    Bytes,
    Tuple(Vec<Id>),
    List(Vec<Id>),
    Dict(Vec<(Id, Id)>),
    Global(Span, Span),
    /// `func(*args)` as data, with items set on the result afterwards.
    Call(Box<Call>),
    Persistent(Id),
}

#[derive(Debug, Clone)]
struct Call {
    func: Id,
    args: Id,
    items: Vec<(Id, Id)>,
}

/// Parsed pickle: an arena of plain data over the input bytes, and its root.
pub struct Pickle<'a> {
    b: &'a [u8],
    nodes: Vec<Node>,
    root: Id,
    /// Bytes up to and including STOP.
    pub consumed: usize,
}

#[derive(Clone, Copy)]
enum Item {
    Mark,
    Val(Id),
}

fn allowed(module: &[u8], name: &[u8]) -> bool {
    module == b"torch"
        || module.starts_with(b"torch.")
        || (module == b"collections" && name == b"OrderedDict")
        || (module == b"builtins" && matches!(name, b"set" | b"frozenset" | b"bytearray" | b"slice"))
        || (module == b"__builtin__" && matches!(name, b"set" | b"frozenset" | b"bytearray"))
        || (module == b"_codecs" && name == b"encode")
        || (module.starts_with(b"numpy") && matches!(name, b"_reconstruct" | b"dtype" | b"scalar" | b"ndarray"))
}

struct Parser<'a> {
    b: &'a [u8],
    pos: usize,
    nodes: Vec<Node>,
    stack: Vec<Item>,
    memo: HashMap<u32, Id>,
    entries: usize,
}

impl<'a> Parser<'a> {
    fn err(&self, what: &'static str) -> PickleError {
        PickleError::Malformed { at: self.pos, what }
    }
    fn take(&mut self, n: usize) -> Result<Span, PickleError> {
        let end = self.pos.checked_add(n).filter(|e| *e <= self.b.len()).ok_or(PickleError::Truncated(self.b.len()))?;
        let span = Span { at: self.pos as u32, len: n as u32 };
        self.pos = end;
        Ok(span)
    }
    fn bytes(&self, s: Span) -> &'a [u8] {
        &self.b[s.at as usize..(s.at + s.len) as usize]
    }
    fn fixed<const N: usize>(&mut self) -> Result<[u8; N], PickleError> {
        let s = self.take(N)?;
        Ok(self.bytes(s).try_into().expect("N bytes"))
    }
    fn u8(&mut self) -> Result<u8, PickleError> {
        Ok(self.fixed::<1>()?[0])
    }
    fn u32(&mut self) -> Result<u32, PickleError> {
        Ok(u32::from_le_bytes(self.fixed()?))
    }
    fn u64(&mut self) -> Result<u64, PickleError> {
        Ok(u64::from_le_bytes(self.fixed()?))
    }
    /// A length prefix of `n` bytes that must fit the input.
    fn len_u64(&mut self) -> Result<usize, PickleError> {
        usize::try_from(self.u64()?).map_err(|_| PickleError::Truncated(self.b.len()))
    }
    /// A text line (without its newline).
    fn line(&mut self) -> Result<Span, PickleError> {
        let rest = self.b.get(self.pos..).unwrap_or(&[]);
        let n = rest.iter().position(|c| *c == b'\n').ok_or(PickleError::Truncated(self.b.len()))?;
        let span = self.take(n)?;
        self.pos += 1;
        Ok(span)
    }
    fn line_str(&mut self) -> Result<&'a str, PickleError> {
        let s = self.line()?;
        std::str::from_utf8(self.bytes(s)).map_err(|_| self.err("non-UTF-8 text line"))
    }
    fn node(&mut self, n: Node) -> Result<Id, PickleError> {
        if self.nodes.len() >= MAX_NODES {
            return Err(PickleError::Limit("too many values"));
        }
        self.nodes.push(n);
        Ok((self.nodes.len() - 1) as Id)
    }
    fn push(&mut self, n: Node) -> Result<(), PickleError> {
        let id = self.node(n)?;
        self.push_id(id)
    }
    fn push_id(&mut self, id: Id) -> Result<(), PickleError> {
        if self.stack.len() >= MAX_STACK {
            return Err(PickleError::Limit("stack too deep"));
        }
        self.stack.push(Item::Val(id));
        Ok(())
    }
    fn pop(&mut self) -> Result<Id, PickleError> {
        match self.stack.pop() {
            Some(Item::Val(id)) => Ok(id),
            Some(Item::Mark) => Err(self.err("unexpected MARK")),
            None => Err(self.err("stack underflow")),
        }
    }
    fn top(&self) -> Result<Id, PickleError> {
        match self.stack.last() {
            Some(Item::Val(id)) => Ok(*id),
            _ => Err(self.err("no value on the stack")),
        }
    }
    /// Values down to the last MARK (removed).
    fn pop_mark(&mut self) -> Result<Vec<Id>, PickleError> {
        let at = self.stack.iter().rposition(|i| matches!(i, Item::Mark)).ok_or_else(|| self.err("no MARK"))?;
        let items = self.stack.split_off(at + 1);
        self.stack.pop();
        Ok(items.into_iter().map(|i| if let Item::Val(id) = i { id } else { 0 }).collect())
    }
    /// Counts `n` more container entries against the cap.
    fn entries(&mut self, n: usize) -> Result<(), PickleError> {
        self.entries = self.entries.saturating_add(n);
        if self.entries > MAX_ENTRIES {
            return Err(PickleError::Limit("too many container entries"));
        }
        Ok(())
    }
    fn container(&mut self, kind: fn(Vec<Id>) -> Node, items: Vec<Id>) -> Result<(), PickleError> {
        self.entries(items.len())?;
        self.push(kind(items))
    }
    /// A UTF-8 string of `n` bytes.
    fn unicode(&mut self, n: usize) -> Result<(), PickleError> {
        let s = self.take(n)?;
        std::str::from_utf8(self.bytes(s)).map_err(|_| self.err("invalid UTF-8 string"))?;
        self.push(Node::Str(s))
    }
    fn global(&mut self, module: Span, name: Span) -> Result<(), PickleError> {
        let (m, n) = (self.bytes(module), self.bytes(name));
        if !allowed(m, n) {
            let show = |b: &[u8]| String::from_utf8_lossy(&b[..b.len().min(200)]).into_owned();
            return Err(PickleError::ForbiddenGlobal(format!("{}.{}", show(m), show(n))));
        }
        self.push(Node::Global(module, name))
    }
    fn memo_put(&mut self, key: u32) -> Result<(), PickleError> {
        if self.memo.len() >= MAX_MEMO {
            return Err(PickleError::Limit("memo too large"));
        }
        let id = self.top()?;
        self.memo.insert(key, id);
        Ok(())
    }
    fn memo_get(&mut self, key: u32) -> Result<(), PickleError> {
        let id = *self.memo.get(&key).ok_or_else(|| self.err("memo key not set"))?;
        self.push_id(id)
    }
    fn set_items(&mut self, target: Id, pairs: Vec<(Id, Id)>) -> Result<(), PickleError> {
        self.entries(pairs.len())?;
        match &mut self.nodes[target as usize] {
            Node::Dict(items) => items.extend(pairs),
            Node::Call(call) => call.items.extend(pairs),
            _ => return Err(self.err("SETITEM on a value that is not a dict")),
        }
        Ok(())
    }
    fn append(&mut self, target: Id, values: Vec<Id>) -> Result<(), PickleError> {
        self.entries(values.len())?;
        match &mut self.nodes[target as usize] {
            Node::List(items) => items.extend(values),
            Node::Call(_) => {}
            _ => return Err(self.err("APPEND on a value that is not a list")),
        }
        Ok(())
    }
    fn int_line(&mut self) -> Result<(), PickleError> {
        let line = self.line_str()?.trim_end_matches('L');
        let node = match line {
            "00" | "01" => Node::Bool,
            l => Node::Int(l.parse().map_err(|_| self.err("bad integer"))?),
        };
        self.push(node)
    }
    fn long(&mut self, n: usize) -> Result<(), PickleError> {
        let s = self.take(n)?;
        let bytes = self.bytes(s);
        let v = match n {
            0 => 0,
            1..=8 => {
                let mut buf = if bytes[n - 1] & 0x80 != 0 { [0xffu8; 8] } else { [0u8; 8] };
                buf[..n].copy_from_slice(bytes);
                i64::from_le_bytes(buf)
            }
            _ => i64::MAX, // a big integer: only sizes matter here, and they fit
        };
        self.push(Node::Int(v))
    }

    fn run(mut self) -> Result<Pickle<'a>, PickleError> {
        if self.b.len() > u32::MAX as usize {
            return Err(PickleError::Limit("pickle larger than 4 GiB"));
        }
        loop {
            let at = self.pos;
            let op = self.u8()?;
            match op {
                0x80 => {
                    self.u8()?; // PROTO
                }
                0x95 => {
                    self.u64()?; // FRAME: a length hint only
                }
                b'.' => {
                    let root = self.pop()?;
                    return Ok(Pickle { b: self.b, nodes: self.nodes, root, consumed: self.pos });
                }
                b'(' => {
                    if self.stack.len() >= MAX_STACK {
                        return Err(PickleError::Limit("stack too deep"));
                    }
                    self.stack.push(Item::Mark)
                }
                b'}' => self.push(Node::Dict(Vec::new()))?,
                b']' | 0x8f => self.push(Node::List(Vec::new()))?, // EMPTY_LIST, EMPTY_SET
                b')' => self.push(Node::Tuple(Vec::new()))?,
                b't' => {
                    let items = self.pop_mark()?;
                    self.container(Node::Tuple, items)?;
                }
                b'l' => {
                    let items = self.pop_mark()?; // LIST
                    self.container(Node::List, items)?;
                }
                b'd' => {
                    let items = self.pop_mark()?; // DICT
                    if items.len() % 2 != 0 {
                        return Err(self.err("DICT with an odd number of values"));
                    }
                    let id = self.node(Node::Dict(Vec::new()))?;
                    self.set_items(id, items.chunks(2).map(|p| (p[0], p[1])).collect())?;
                    self.push_id(id)?;
                }
                0x91 => {
                    let items = self.pop_mark()?; // FROZENSET
                    self.container(Node::List, items)?;
                }
                0x85..=0x87 => {
                    let n = (op - 0x84) as usize;
                    let mut items = Vec::with_capacity(n);
                    for _ in 0..n {
                        items.push(self.pop()?);
                    }
                    items.reverse();
                    self.container(Node::Tuple, items)?;
                }
                b's' => {
                    let v = self.pop()?;
                    let k = self.pop()?;
                    let target = self.top()?;
                    self.set_items(target, vec![(k, v)])?;
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    if items.len() % 2 != 0 {
                        return Err(self.err("SETITEMS with an odd number of values"));
                    }
                    let target = self.top()?;
                    self.set_items(target, items.chunks(2).map(|p| (p[0], p[1])).collect())?;
                }
                b'a' => {
                    let v = self.pop()?;
                    let target = self.top()?;
                    self.append(target, vec![v])?;
                }
                b'e' | 0x90 => {
                    let items = self.pop_mark()?; // APPENDS, ADDITEMS
                    let target = self.top()?;
                    self.append(target, items)?;
                }
                b'X' => {
                    let n = self.u32()? as usize;
                    self.unicode(n)?;
                }
                0x8c => {
                    let n = self.u8()? as usize;
                    self.unicode(n)?;
                }
                0x8d => {
                    let n = self.len_u64()?;
                    self.unicode(n)?;
                }
                b'T' | b'U' => {
                    // Python 2 byte strings: kept as strings (torch's legacy checkpoints name keys so).
                    let n = if op == b'T' { self.u32()? as usize } else { self.u8()? as usize };
                    let s = self.take(n)?;
                    self.push(Node::Str(s))?;
                }
                b'B' | b'C' => {
                    let n = if op == b'B' { self.u32()? as usize } else { self.u8()? as usize };
                    self.take(n)?;
                    self.push(Node::Bytes)?;
                }
                0x8e | 0x96 => {
                    let n = self.len_u64()?;
                    self.take(n)?;
                    self.push(Node::Bytes)?;
                }
                b'J' => {
                    let v = i32::from_le_bytes(self.fixed()?);
                    self.push(Node::Int(i64::from(v)))?;
                }
                b'K' => {
                    let v = self.u8()?;
                    self.push(Node::Int(i64::from(v)))?;
                }
                b'M' => {
                    let v = u16::from_le_bytes(self.fixed()?);
                    self.push(Node::Int(i64::from(v)))?;
                }
                0x8a => {
                    let n = self.u8()? as usize;
                    self.long(n)?;
                }
                0x8b => {
                    let n = self.u32()? as usize;
                    self.long(n)?;
                }
                b'I' | b'L' => self.int_line()?,
                b'G' => {
                    self.take(8)?;
                    self.push(Node::Float)?;
                }
                b'F' => {
                    self.line()?;
                    self.push(Node::Float)?;
                }
                0x88 | 0x89 => self.push(Node::Bool)?,
                b'N' => self.push(Node::None)?,
                b'c' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    self.global(module, name)?;
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    let (Node::Str(m), Node::Str(n)) = (&self.nodes[module as usize], &self.nodes[name as usize])
                    else {
                        return Err(self.err("STACK_GLOBAL needs two strings"));
                    };
                    let (m, n) = (*m, *n);
                    self.global(m, n)?;
                }
                b'R' | 0x81 => {
                    let args = self.pop()?;
                    let func = self.pop()?;
                    let ordered_dict = matches!(&self.nodes[func as usize],
                        Node::Global(m, n) if self.bytes(*m) == b"collections" && self.bytes(*n) == b"OrderedDict");
                    if ordered_dict {
                        self.push(Node::Dict(Vec::new()))?;
                    } else {
                        self.push(Node::Call(Box::new(Call { func, args, items: Vec::new() })))?;
                    }
                }
                0x92 => {
                    let _kwargs = self.pop()?; // NEWOBJ_EX
                    let args = self.pop()?;
                    let func = self.pop()?;
                    self.push(Node::Call(Box::new(Call { func, args, items: Vec::new() })))?;
                }
                b'b' => {
                    self.pop()?; // BUILD: state is not needed to find tensors
                }
                b'Q' => {
                    let pid = self.pop()?;
                    self.push(Node::Persistent(pid))?;
                }
                b'P' => {
                    let s = self.line()?;
                    let id = self.node(Node::Str(s))?;
                    self.push(Node::Persistent(id))?;
                }
                b'q' => {
                    let k = u32::from(self.u8()?);
                    self.memo_put(k)?;
                }
                b'r' => {
                    let k = self.u32()?;
                    self.memo_put(k)?;
                }
                b'p' => {
                    let k = self.line_str()?.parse().map_err(|_| self.err("bad memo key"))?;
                    self.memo_put(k)?;
                }
                0x94 => {
                    let k = self.memo.len() as u32; // MEMOIZE
                    self.memo_put(k)?;
                }
                b'h' => {
                    let k = u32::from(self.u8()?);
                    self.memo_get(k)?;
                }
                b'j' => {
                    let k = self.u32()?;
                    self.memo_get(k)?;
                }
                b'g' => {
                    let k = self.line_str()?.parse().map_err(|_| self.err("bad memo key"))?;
                    self.memo_get(k)?;
                }
                b'0' => {
                    self.stack.pop().ok_or_else(|| self.err("POP on an empty stack"))?;
                }
                b'1' => {
                    self.pop_mark()?;
                }
                b'2' => {
                    let id = self.top()?;
                    self.push_id(id)?;
                }
                op => return Err(PickleError::Opcode { op, at }),
            }
        }
    }
}

/// Parses one pickle from the start of `bytes`.
pub fn parse(bytes: &[u8]) -> Result<Pickle<'_>, PickleError> {
    Parser { b: bytes, pos: 0, nodes: Vec::new(), stack: Vec::new(), memo: HashMap::new(), entries: 0 }.run()
}

/// A tensor found in a checkpoint pickle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PickledTensor {
    /// Dotted path of dict keys to it (`model.layers.0.mlp.up_proj.weight`).
    pub name: String,
    /// The tensor's dtype (safetensors names: `F32`, `F8_E4M3`; `F4` for torch's
    /// `float4_e2m1fn_x2`, whose one element holds two values).
    pub dtype: &'static str,
    /// Values per torch element: 2 for `float4_e2m1fn_x2`, else 1.
    pub per_element: u64,
    /// Storage class name (`FloatStorage`, `BFloat16Storage`, `UntypedStorage`, ...).
    pub storage_type: String,
    /// The storage's key within the checkpoint; tied weights share it.
    pub storage_key: String,
    /// Elements the storage holds, as its persistent id declares (bytes for `UntypedStorage`).
    pub storage_numel: u64,
    /// Bytes the storage holds.
    pub storage_bytes: u64,
    pub offset: u64,
    pub shape: Vec<u64>,
    pub stride: Vec<u64>,
}

/// A storage class's dtype and bytes per element: torch's typed storages, and `UntypedStorage`
/// (bytes, `_rebuild_tensor_v3`).
fn storage_class(class: &str) -> Option<(Option<&'static str>, u64)> {
    if class == "UntypedStorage" {
        return Some((None, 1));
    }
    let name = crate::dtype::from_torch_storage(class)?;
    Some((Some(name), crate::dtype::lookup(name)?.bytes_for(1)?))
}

/// A torch dtype (`float8_e4m3fn`) as (safetensors name, values per element, bytes per element).
fn torch_dtype(name: &str) -> Option<(&'static str, u64, u64)> {
    if name == "float4_e2m1fn_x2" {
        return Some(("F4", 2, 1));
    }
    let d = crate::dtype::from_torch_name(name)?;
    Some((d, 1, crate::dtype::lookup(d)?.bytes_for(1)?))
}

/// No parent: the root of the name tree.
const ROOT: u32 = u32::MAX;

/// Tensor names as a tree of parent links, built only as far as the search goes.
struct Names {
    /// `(parent, key)` per dict entry with a string key.
    parts: Vec<(u32, Span)>,
    /// Bytes of names built so far.
    built: usize,
}

impl Pickle<'_> {
    fn get(&self, id: Id) -> &Node {
        &self.nodes[id as usize]
    }

    fn bytes(&self, s: Span) -> &[u8] {
        &self.b[s.at as usize..(s.at + s.len) as usize]
    }

    fn ints(&self, id: Id) -> Option<Vec<u64>> {
        match self.get(id) {
            Node::Tuple(v) | Node::List(v) => v
                .iter()
                .map(|i| match self.get(*i) {
                    Node::Int(n) => u64::try_from(*n).ok(),
                    _ => None,
                })
                .collect(),
            _ => None,
        }
    }

    fn str(&self, id: Id) -> Option<&str> {
        match self.get(id) {
            Node::Str(s) => std::str::from_utf8(self.bytes(*s)).ok(),
            _ => None,
        }
    }

    fn text(&self, s: Span) -> String {
        String::from_utf8_lossy(self.bytes(s)).into_owned()
    }

    /// The storage class, key and size of a persistent id
    /// `("storage", StorageClass, key, location, numel, ...)`.
    fn storage(&self, id: Id) -> Option<(String, String, u64)> {
        let Node::Persistent(pid) = self.get(id) else { return None };
        let Node::Tuple(t) = self.get(*pid) else { return None };
        if t.len() < 5 || self.str(t[0]) != Some("storage") {
            return None;
        }
        let class = match self.get(t[1]) {
            Node::Global(_, name) => self.text(*name),
            Node::Str(s) => self.text(*s),
            _ => return None,
        };
        let key = match self.get(t[2]) {
            Node::Str(s) => self.text(*s),
            Node::Int(n) => n.to_string(),
            _ => return None,
        };
        let numel = match self.get(t[4]) {
            Node::Int(n) => u64::try_from(*n).ok()?,
            _ => return None,
        };
        Some((class, key, numel))
    }

    /// The dotted name at `leaf`, built from its parent links and charged to the name budget.
    fn name(&self, names: &mut Names, leaf: u32) -> Result<String, PickleError> {
        let mut spans = Vec::new();
        let mut len = 0usize;
        let mut at = leaf;
        while at != ROOT {
            let (parent, key) = names.parts[at as usize];
            len += key.len as usize + usize::from(!spans.is_empty());
            if len > MAX_NAME {
                return Err(PickleError::Limit("a tensor name is longer than 4096 bytes"));
            }
            spans.push(key);
            at = parent;
        }
        names.built += len;
        if names.built > MAX_NAME_BYTES {
            return Err(PickleError::Limit("tensor names take more than 32 MiB"));
        }
        let mut out = Vec::with_capacity(len);
        for (i, s) in spans.iter().rev().enumerate() {
            if i > 0 {
                out.push(b'.');
            }
            out.extend_from_slice(self.bytes(*s));
        }
        Ok(String::from_utf8_lossy(&out).into_owned())
    }

    /// Every tensor, by walking dicts from the root. A tensor reached twice (tied weights pickled
    /// once and referenced again) is listed once, under the first name it was reached by.
    pub fn tensors(&self) -> Result<Vec<PickledTensor>, PickleError> {
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        let mut names = Names { parts: Vec::new(), built: 0 };
        let mut work: Vec<(Id, u32, u32)> = vec![(self.root, ROOT, 0)];
        while let Some((id, name, depth)) = work.pop() {
            if depth > MAX_DEPTH {
                return Err(PickleError::Limit("containers nested too deep"));
            }
            if !seen.insert(id) {
                continue;
            }
            let mut push_items = |items: &[(Id, Id)], work: &mut Vec<(Id, u32, u32)>| {
                for (k, v) in items.iter().rev() {
                    let child = match self.get(*k) {
                        Node::Str(s) => {
                            names.parts.push((name, *s));
                            (names.parts.len() - 1) as u32
                        }
                        _ => name,
                    };
                    work.push((*v, child, depth + 1));
                }
            };
            match self.get(id) {
                Node::Dict(items) => push_items(items, &mut work),
                Node::List(items) | Node::Tuple(items) => {
                    work.extend(items.iter().rev().map(|v| (*v, name, depth + 1)));
                }
                Node::Call(call) => {
                    let (m, f) = match self.get(call.func) {
                        Node::Global(m, n) => (self.bytes(*m), self.bytes(*n)),
                        _ => return Err(PickleError::Unsupported("a call to a value that is not a global".into())),
                    };
                    match (m, f) {
                        (b"torch._utils", b"_rebuild_tensor_v2" | b"_rebuild_tensor" | b"_rebuild_tensor_v3") => {
                            let full = self.name(&mut names, name)?;
                            out.push(self.tensor(call.args, full, f == b"_rebuild_tensor_v3")?);
                            continue;
                        }
                        (b"torch._utils", b"_rebuild_parameter" | b"_rebuild_parameter_with_state")
                        | (b"torch._tensor", b"_rebuild_from_type_v2")
                        | (b"torch.nn.parameter", b"Parameter")
                        | (b"torch", b"Size")
                        | (b"collections", b"OrderedDict" | b"Counter") => {}
                        // Plain values, holding no tensor.
                        (b"_codecs", b"encode")
                        | (
                            b"builtins" | b"__builtin__",
                            b"set" | b"frozenset" | b"bytearray" | b"complex" | b"slice",
                        )
                        | (b"torch", b"device")
                        | (b"torch.serialization", b"_get_layout") => continue,
                        (b"torch._utils", what) => {
                            let kind = match what {
                                b"_rebuild_sparse_tensor" => "a sparse tensor",
                                b"_rebuild_meta_tensor_no_storage" => "a meta tensor (no data)",
                                b"_rebuild_qtensor" => "a quantized tensor",
                                b"_rebuild_nested_tensor" => "a nested tensor",
                                _ => "a tensor subclass or device tensor",
                            };
                            return Err(PickleError::Unsupported(format!(
                                "{} holds {kind}, which has no stored dtype to count",
                                self.name(&mut names, name)?
                            )));
                        }
                        _ => {
                            let show = |b: &[u8]| String::from_utf8_lossy(&b[..b.len().min(200)]).into_owned();
                            return Err(PickleError::Unsupported(format!(
                                "the pickle calls {}.{}, which a weights file never needs (torch.load(weights_only=True) refuses it)",
                                show(m),
                                show(f)
                            )));
                        }
                    }
                    push_items(&call.items, &mut work);
                    work.push((call.args, name, depth + 1));
                }
                _ => {}
            }
        }
        Ok(out)
    }

    /// `_rebuild_tensor[_v2](storage, storage_offset, size, stride, ...)` or
    /// `_rebuild_tensor_v3(storage, storage_offset, size, stride, requires_grad, hooks, dtype, ...)`,
    /// checked to lie within its storage.
    fn tensor(&self, args: Id, name: String, v3: bool) -> Result<PickledTensor, PickleError> {
        let bad = |what: &str| PickleError::BadTensor { name: name.clone(), what: what.to_owned() };
        let Node::Tuple(a) = self.get(args) else { return Err(bad("rebuild arguments are not a tuple")) };
        if a.len() < if v3 { 7 } else { 4 } {
            return Err(bad("rebuild arguments are too short"));
        }
        let (storage_type, storage_key, storage_numel) =
            self.storage(a[0]).ok_or_else(|| bad("no storage reference with a size"))?;
        let (class_dtype, class_bytes) = storage_class(&storage_type)
            .ok_or_else(|| bad(&format!("unknown storage class {storage_type:?} (torch defines no such class)")))?;
        let (dtype, per_element, item_bytes) = if v3 {
            let dt = match self.get(a[6]) {
                Node::Global(m, n) if self.bytes(*m) == b"torch" => self.text(*n),
                _ => return Err(bad("the dtype is not a torch dtype")),
            };
            torch_dtype(&dt).ok_or_else(|| bad(&format!("unknown or uncountable dtype torch.{dt}")))?
        } else {
            let d = class_dtype.ok_or_else(|| bad("an untyped storage needs _rebuild_tensor_v3"))?;
            (d, 1, class_bytes)
        };
        let storage_bytes = storage_numel
            .checked_mul(class_bytes)
            .ok_or_else(|| bad(&format!("storage of {storage_numel} elements overflows 64 bits")))?;
        let offset = match self.get(a[1]) {
            Node::Int(n) => u64::try_from(*n).map_err(|_| bad("negative storage offset"))?,
            _ => return Err(bad("storage offset is not an integer")),
        };
        let shape = self.ints(a[2]).ok_or_else(|| bad("size is not a tuple of non-negative integers"))?;
        let stride = self.ints(a[3]).ok_or_else(|| bad("stride is not a tuple of non-negative integers"))?;
        if stride.len() != shape.len() {
            return Err(bad("size and stride differ in length"));
        }
        // The last element reached: offset + sum((size - 1) * stride); nothing for an empty tensor.
        let mut extent = if shape.contains(&0) { Some(0) } else { offset.checked_add(1) };
        if !shape.contains(&0) {
            for (n, s) in shape.iter().zip(&stride) {
                extent = extent.and_then(|e| e.checked_add((n - 1).checked_mul(*s)?));
            }
        }
        match extent.and_then(|e| e.checked_mul(item_bytes)) {
            Some(e) if e <= storage_bytes => {}
            _ => {
                return Err(bad(&format!(
                    "shape {shape:?} with stride {stride:?} at offset {offset} reaches past its storage of {storage_bytes} bytes"
                )));
            }
        }
        Ok(PickledTensor {
            name,
            dtype,
            per_element,
            storage_type,
            storage_key,
            storage_numel,
            storage_bytes,
            offset,
            shape,
            stride,
        })
    }

    /// The root value as an integer (a legacy checkpoint's protocol version).
    pub fn root_int(&self) -> Option<i64> {
        match self.get(self.root) {
            Node::Int(n) => Some(*n),
            _ => None,
        }
    }

    /// The root value as a list of strings (a legacy checkpoint's storage keys).
    pub fn root_strings(&self) -> Option<Vec<String>> {
        match self.get(self.root) {
            Node::List(v) | Node::Tuple(v) => v.iter().map(|i| self.str(*i).map(str::to_owned)).collect(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `{name: _rebuild_tensor_v2(("storage", FloatStorage, "0", "cpu", numel), 0, shape, stride)}`.
    fn one_tensor(name: &str, numel: u8, shape: &[u8], stride: &[u8]) -> Vec<u8> {
        let mut p = b"\x80\x02}(X".to_vec();
        p.extend_from_slice(&(name.len() as u32).to_le_bytes());
        p.extend_from_slice(name.as_bytes());
        p.extend_from_slice(b"ctorch._utils\n_rebuild_tensor_v2\n(");
        p.extend_from_slice(b"(X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpuK");
        p.push(numel);
        p.extend_from_slice(b"tQK\x00(");
        for d in shape {
            p.extend_from_slice(&[b'K', *d]);
        }
        p.extend_from_slice(b"t(");
        for s in stride {
            p.extend_from_slice(&[b'K', *s]);
        }
        p.extend_from_slice(b"t\x89NtRu.");
        p
    }

    #[test]
    fn finds_a_tensor_with_its_storage() {
        let p = one_tensor("w", 6, &[2, 3], &[3, 1]);
        let t = parse(&p).unwrap().tensors().unwrap();
        assert_eq!(t.len(), 1);
        assert_eq!((t[0].name.as_str(), t[0].storage_numel, t[0].shape.as_slice()), ("w", 6, &[2u64, 3][..]));
    }

    #[test]
    fn a_shape_past_its_storage_is_an_error() {
        let p = one_tensor("w", 6, &[200, 200], &[200, 1]);
        let e = parse(&p).unwrap().tensors().unwrap_err();
        assert!(
            matches!(&e, PickleError::BadTensor { name, what } if name == "w" && what.contains("past its storage"))
        );
        assert!(parse(&one_tensor("w", 6, &[2, 4], &[3, 1])).unwrap().tensors().is_err());
        assert!(
            parse(&one_tensor("e", 0, &[0, 4], &[4, 1])).unwrap().tensors().is_ok(),
            "an empty tensor needs nothing"
        );
    }

    #[test]
    fn refuses_foreign_globals() {
        let p = b"\x80\x02cos\nsystem\nq\x00X\x02\x00\x00\x00lsq\x01\x85q\x02Rq\x03.";
        assert_eq!(parse(p).err(), Some(PickleError::ForbiddenGlobal("os.system".into())));
        let stack_global = b"\x80\x04\x8c\x08builtins\x8c\x04eval\x93.";
        assert!(matches!(parse(stack_global), Err(PickleError::ForbiddenGlobal(g)) if g == "builtins.eval"));
    }

    #[test]
    fn truncated_and_unknown_opcodes() {
        assert_eq!(parse(b"\x80\x02}q\x00").err(), Some(PickleError::Truncated(5)));
        assert!(matches!(parse(b"\x80\x02\xff"), Err(PickleError::Opcode { op: 0xff, .. })));
        assert!(matches!(parse(b"\x80\x02s."), Err(PickleError::Malformed { .. })));
        let mut huge_len = b"\x80\x04\x8d".to_vec();
        huge_len.extend_from_slice(&u64::MAX.to_le_bytes());
        assert!(matches!(parse(&huge_len), Err(PickleError::Truncated(_))));
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        // 100,000 nested lists: `]` then (`]` `a`)... each appended into the one before.
        let mut p = vec![0x80, 0x02];
        p.extend(std::iter::repeat_n(b']', 100_000));
        p.extend(std::iter::repeat_n(b'a', 99_999));
        p.push(b'.');
        let pickle = parse(&p).unwrap();
        assert_eq!(pickle.tensors().err(), Some(PickleError::Limit("containers nested too deep")));
    }

    #[test]
    fn memo_bombs_stay_linear() {
        // Each level is a pair of the level before: 2^200 paths through 200 nodes. The search visits
        // each node once.
        let bomb = |levels: usize| {
            let mut q = vec![0x80, 0x02, b']', b'q', 0];
            for _ in 0..levels {
                q.extend_from_slice(&[b'h', 0, b'h', 0, 0x86, b'q', 0]);
            }
            q.push(b'.');
            q
        };
        let started = std::time::Instant::now();
        assert!(parse(&bomb(200)).unwrap().tensors().unwrap().is_empty());
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
        assert_eq!(parse(&bomb(1000)).unwrap().tensors().err(), Some(PickleError::Limit("containers nested too deep")));
    }

    #[test]
    fn value_floods_hit_the_caps_instead_of_memory() {
        // Three million `None`s, each popped again: over the arena cap long before memory is at risk.
        let mut p = vec![0x80, 0x02];
        p.extend(std::iter::repeat_n(*b"N0", 3_000_000).flatten());
        p.extend_from_slice(b"N.");
        assert_eq!(parse(&p).err(), Some(PickleError::Limit("too many values")));
        // Two million pushed and kept: over the stack cap.
        let mut p = vec![0x80, 0x02];
        p.extend(std::iter::repeat_n(b'N', 2_000_000));
        p.push(b'.');
        assert_eq!(parse(&p).err(), Some(PickleError::Limit("stack too deep")));
        // One value appended 4.8 million times: over the entry cap.
        let mut q = vec![0x80, 0x02, b']', b'N', b'q', 0, b'0'];
        for _ in 0..6 {
            q.push(b'(');
            q.extend(std::iter::repeat_n([b'h', 0], 800_000).flatten());
            q.push(b'e');
        }
        q.push(b'.');
        assert_eq!(parse(&q).err(), Some(PickleError::Limit("too many container entries")));
    }

    #[test]
    fn names_are_built_lazily_and_capped() {
        // A dict whose keys are all the same 1 MB string (a memo reference), holding dicts down to
        // a tensor: every key costs two bytes of pickle, and the name would be megabytes.
        // 100,000 such keys once cost 100 GB of names.
        let key = "k".repeat(1 << 20);
        let mut p = b"\x80\x02}(X".to_vec();
        p.extend_from_slice(&(key.len() as u32).to_le_bytes());
        p.extend_from_slice(key.as_bytes());
        p.extend_from_slice(b"q\x00}");
        p.extend(std::iter::repeat_n(*b"h\x00}", 99_999).flatten());
        p.extend_from_slice(b"u.");
        let pickle = parse(&p).unwrap();
        assert!(pickle.tensors().unwrap().is_empty(), "no tensor, so no name is ever built");
        let long = one_tensor(&"n".repeat(5000), 6, &[6], &[1]);
        assert_eq!(
            parse(&long).unwrap().tensors().err(),
            Some(PickleError::Limit("a tensor name is longer than 4096 bytes"))
        );
    }
}
