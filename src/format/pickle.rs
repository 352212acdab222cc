//! A bounded pickle reader for PyTorch checkpoints: it interprets opcodes into plain data in an
//! arena (no code runs, no global is imported, only names are recorded), then finds every tensor
//! rebuilt by `torch._utils._rebuild_tensor_v2` (directly or inside `_rebuild_parameter`) with its
//! storage class, storage key, offset and shape. Globals outside torch and a few plain containers are
//! refused; nesting, stack, memo and node counts are capped, so a hostile pickle costs bounded time
//! and memory and gives a clear error.

use std::collections::{HashMap, HashSet};

/// The most nested containers the tensor search follows.
const MAX_DEPTH: usize = 256;
/// The most values on the stack, entries in the memo, or nodes in the arena.
const MAX_ITEMS: usize = 50_000_000;

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
}

/// Index of a node in the arena.
type Id = u32;

#[derive(Debug, Clone)]
enum Node {
    None,
    Bool,
    Int(i64),
    Float,
    Str(String),
    Bytes,
    Tuple(Vec<Id>),
    List(Vec<Id>),
    Dict(Vec<(Id, Id)>),
    Global(String, String),
    /// `func(*args)` as data, with items and state set on the result afterwards.
    Call {
        func: Id,
        args: Id,
        items: Vec<(Id, Id)>,
    },
    Persistent(Id),
}

/// Parsed pickle: an arena of plain data and its root.
pub struct Pickle {
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

fn allowed(module: &str, name: &str) -> bool {
    module == "torch"
        || module.starts_with("torch.")
        || (module == "collections" && name == "OrderedDict")
        || (module == "builtins" && matches!(name, "set" | "frozenset" | "bytearray" | "slice"))
        || (module == "__builtin__" && matches!(name, "set" | "frozenset" | "bytearray"))
        || (module == "_codecs" && name == "encode")
        || (module.starts_with("numpy") && matches!(name, "_reconstruct" | "dtype" | "scalar" | "ndarray"))
}

struct Parser<'a> {
    b: &'a [u8],
    pos: usize,
    nodes: Vec<Node>,
    stack: Vec<Item>,
    memo: HashMap<u32, Id>,
}

impl<'a> Parser<'a> {
    fn err(&self, what: &'static str) -> PickleError {
        PickleError::Malformed { at: self.pos, what }
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], PickleError> {
        let end = self.pos.checked_add(n).ok_or(PickleError::Truncated(self.b.len()))?;
        let s = self.b.get(self.pos..end).ok_or(PickleError::Truncated(self.b.len()))?;
        self.pos = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, PickleError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, PickleError> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into().expect("2 bytes")))
    }
    fn u32(&mut self) -> Result<u32, PickleError> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes")))
    }
    fn u64(&mut self) -> Result<u64, PickleError> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("8 bytes")))
    }
    fn line(&mut self) -> Result<&'a str, PickleError> {
        let rest = self.b.get(self.pos..).unwrap_or(&[]);
        let n = rest.iter().position(|c| *c == b'\n').ok_or(PickleError::Truncated(self.b.len()))?;
        let s = std::str::from_utf8(&rest[..n]).map_err(|_| self.err("non-UTF-8 text line"))?;
        self.pos += n + 1;
        Ok(s)
    }
    fn node(&mut self, n: Node) -> Result<Id, PickleError> {
        if self.nodes.len() >= MAX_ITEMS {
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
        if self.stack.len() >= MAX_ITEMS {
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
    fn str_node(&mut self, bytes: &[u8]) -> Result<(), PickleError> {
        let s = String::from_utf8(bytes.to_vec()).map_err(|_| self.err("invalid UTF-8 string"))?;
        self.push(Node::Str(s))
    }
    fn global(&mut self, module: String, name: String) -> Result<(), PickleError> {
        if !allowed(&module, &name) {
            return Err(PickleError::ForbiddenGlobal(format!("{module}.{name}")));
        }
        self.push(Node::Global(module, name))
    }
    fn memo_put(&mut self, key: u32) -> Result<(), PickleError> {
        if self.memo.len() >= MAX_ITEMS {
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
        match &mut self.nodes[target as usize] {
            Node::Dict(items) | Node::Call { items, .. } => items.extend(pairs),
            _ => return Err(self.err("SETITEM on a value that is not a dict")),
        }
        Ok(())
    }
    fn append(&mut self, target: Id, values: Vec<Id>) -> Result<(), PickleError> {
        match &mut self.nodes[target as usize] {
            Node::List(items) => items.extend(values),
            Node::Call { .. } => {}
            _ => return Err(self.err("APPEND on a value that is not a list")),
        }
        Ok(())
    }

    fn run(mut self) -> Result<Pickle, PickleError> {
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
                    return Ok(Pickle { nodes: self.nodes, root, consumed: self.pos });
                }
                b'(' => self.stack.push(Item::Mark),
                b'}' => self.push(Node::Dict(Vec::new()))?,
                b']' => self.push(Node::List(Vec::new()))?,
                b')' => self.push(Node::Tuple(Vec::new()))?,
                0x8f => self.push(Node::List(Vec::new()))?, // EMPTY_SET
                b't' => {
                    let items = self.pop_mark()?;
                    self.push(Node::Tuple(items))?;
                }
                0x91 => {
                    let items = self.pop_mark()?; // FROZENSET
                    self.push(Node::List(items))?;
                }
                0x85..=0x87 => {
                    let n = (op - 0x84) as usize;
                    let mut items = Vec::with_capacity(n);
                    for _ in 0..n {
                        items.push(self.pop()?);
                    }
                    items.reverse();
                    self.push(Node::Tuple(items))?;
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
                    let pairs = items.chunks(2).map(|p| (p[0], p[1])).collect();
                    self.set_items(target, pairs)?;
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
                    let s = self.take(n)?;
                    self.str_node(s)?;
                }
                0x8c => {
                    let n = self.u8()? as usize;
                    let s = self.take(n)?;
                    self.str_node(s)?;
                }
                0x8d => {
                    let n = usize::try_from(self.u64()?).map_err(|_| PickleError::Limit("string length"))?;
                    let s = self.take(n)?;
                    self.str_node(s)?;
                }
                b'T' | b'B' => {
                    let n = self.u32()? as usize;
                    self.take(n)?;
                    self.push(if op == b'T' { Node::Str(String::new()) } else { Node::Bytes })?;
                }
                b'U' | b'C' => {
                    let n = self.u8()? as usize;
                    self.take(n)?;
                    self.push(if op == b'U' { Node::Str(String::new()) } else { Node::Bytes })?;
                }
                0x8e | 0x96 => {
                    let n = usize::try_from(self.u64()?).map_err(|_| PickleError::Limit("bytes length"))?;
                    self.take(n)?;
                    self.push(Node::Bytes)?;
                }
                b'J' => {
                    let v = i32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes"));
                    self.push(Node::Int(i64::from(v)))?;
                }
                b'K' => {
                    let v = self.u8()?;
                    self.push(Node::Int(i64::from(v)))?;
                }
                b'M' => {
                    let v = self.u16()?;
                    self.push(Node::Int(i64::from(v)))?;
                }
                0x8a | 0x8b => {
                    let n = if op == 0x8a { self.u8()? as usize } else { self.u32()? as usize };
                    let bytes = self.take(n)?;
                    let v = if n <= 8 && !bytes.is_empty() {
                        let mut buf = if bytes[n - 1] & 0x80 != 0 { [0xffu8; 8] } else { [0u8; 8] };
                        buf[..n].copy_from_slice(bytes);
                        i64::from_le_bytes(buf)
                    } else if n == 0 {
                        0
                    } else {
                        i64::MAX // a big integer: only sizes matter here, and they fit
                    };
                    self.push(Node::Int(v))?;
                }
                b'I' | b'L' => {
                    let line = self.line()?.trim_end_matches('L');
                    let node = match line {
                        "00" | "01" => Node::Bool,
                        l => Node::Int(l.parse().map_err(|_| self.err("bad integer"))?),
                    };
                    self.push(node)?;
                }
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
                    let module = self.line()?.to_owned();
                    let name = self.line()?.to_owned();
                    self.global(module, name)?;
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    let (Node::Str(m), Node::Str(n)) = (&self.nodes[module as usize], &self.nodes[name as usize])
                    else {
                        return Err(self.err("STACK_GLOBAL needs two strings"));
                    };
                    let (m, n) = (m.clone(), n.clone());
                    self.global(m, n)?;
                }
                b'R' | 0x81 => {
                    let args = self.pop()?;
                    let func = self.pop()?;
                    let ordered_dict = matches!(&self.nodes[func as usize], Node::Global(m, n) if m == "collections" && n == "OrderedDict");
                    if ordered_dict {
                        self.push(Node::Dict(Vec::new()))?;
                    } else {
                        self.push(Node::Call { func, args, items: Vec::new() })?;
                    }
                }
                0x92 => {
                    let _kwargs = self.pop()?; // NEWOBJ_EX
                    let args = self.pop()?;
                    let func = self.pop()?;
                    self.push(Node::Call { func, args, items: Vec::new() })?;
                }
                b'b' => {
                    self.pop()?; // BUILD: state is not needed to find tensors
                }
                b'Q' => {
                    let pid = self.pop()?;
                    self.push(Node::Persistent(pid))?;
                }
                b'P' => {
                    let s = self.line()?.to_owned();
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
                    let k = self.line()?.parse().map_err(|_| self.err("bad memo key"))?;
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
                    let k = self.line()?.parse().map_err(|_| self.err("bad memo key"))?;
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
pub fn parse(bytes: &[u8]) -> Result<Pickle, PickleError> {
    Parser { b: bytes, pos: 0, nodes: Vec::new(), stack: Vec::new(), memo: HashMap::new() }.run()
}

/// A tensor found in a checkpoint pickle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PickledTensor {
    /// Dotted path of dict keys to it (`model.layers.0.mlp.up_proj.weight`).
    pub name: String,
    /// Storage class name (`FloatStorage`, `BFloat16Storage`, ...).
    pub storage_type: String,
    /// The storage's key within the checkpoint; tied weights share it.
    pub storage_key: String,
    pub offset: u64,
    pub shape: Vec<u64>,
}

impl Pickle {
    fn get(&self, id: Id) -> &Node {
        &self.nodes[id as usize]
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
            Node::Str(s) => Some(s),
            Node::Int(_) => None,
            _ => None,
        }
    }

    /// The storage class and key of a persistent id `("storage", StorageClass, key, location, numel, ...)`.
    fn storage(&self, id: Id) -> Option<(String, String)> {
        let Node::Persistent(pid) = self.get(id) else { return None };
        let Node::Tuple(t) = self.get(*pid) else { return None };
        if t.len() < 3 || self.str(t[0]) != Some("storage") {
            return None;
        }
        let class = match self.get(t[1]) {
            Node::Global(_, name) => name.clone(),
            Node::Str(s) => s.clone(),
            _ => return None,
        };
        let key = match self.get(t[2]) {
            Node::Str(s) => s.clone(),
            Node::Int(n) => n.to_string(),
            _ => return None,
        };
        Some((class, key))
    }

    /// Every tensor, by walking dicts from the root. A tensor reached twice (tied weights pickled
    /// once and referenced again) is listed once, under the first name it was reached by.
    pub fn tensors(&self) -> Result<Vec<PickledTensor>, PickleError> {
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        let mut work: Vec<(Id, String, usize)> = vec![(self.root, String::new(), 0)];
        while let Some((id, name, depth)) = work.pop() {
            if depth > MAX_DEPTH {
                return Err(PickleError::Limit("containers nested too deep"));
            }
            if !seen.insert(id) {
                continue;
            }
            let join = |k: &str| if name.is_empty() { k.to_owned() } else { format!("{name}.{k}") };
            match self.get(id) {
                Node::Dict(items) => {
                    for (k, v) in items.iter().rev() {
                        let key = self.str(*k).map(join).unwrap_or_else(|| name.clone());
                        work.push((*v, key, depth + 1));
                    }
                }
                Node::List(items) | Node::Tuple(items) => {
                    for v in items.iter().rev() {
                        work.push((*v, name.clone(), depth + 1));
                    }
                }
                Node::Call { func, args, items } => {
                    let rebuild = match self.get(*func) {
                        Node::Global(m, n) => {
                            m == "torch._utils" && (n == "_rebuild_tensor_v2" || n == "_rebuild_tensor")
                        }
                        _ => false,
                    };
                    if rebuild {
                        out.push(self.tensor(*args, &name)?);
                        continue;
                    }
                    for (k, v) in items.iter().rev() {
                        let key = self.str(*k).map(join).unwrap_or_else(|| name.clone());
                        work.push((*v, key, depth + 1));
                    }
                    work.push((*args, name.clone(), depth + 1));
                }
                _ => {}
            }
        }
        Ok(out)
    }

    fn tensor(&self, args: Id, name: &str) -> Result<PickledTensor, PickleError> {
        let bad = |what: &str| PickleError::BadTensor { name: name.to_owned(), what: what.to_owned() };
        let Node::Tuple(a) = self.get(args) else { return Err(bad("rebuild arguments are not a tuple")) };
        if a.len() < 3 {
            return Err(bad("rebuild arguments are too short"));
        }
        let (storage_type, storage_key) = self.storage(a[0]).ok_or_else(|| bad("no storage reference"))?;
        let offset = match self.get(a[1]) {
            Node::Int(n) => u64::try_from(*n).map_err(|_| bad("negative storage offset"))?,
            _ => return Err(bad("storage offset is not an integer")),
        };
        let shape = self.ints(a[2]).ok_or_else(|| bad("size is not a tuple of non-negative integers"))?;
        Ok(PickledTensor { name: name.to_owned(), storage_type, storage_key, offset, shape })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
