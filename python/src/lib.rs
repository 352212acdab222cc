//! `capcache._native`: the extension module of the `capcache` Python package. It runs in process
//! what the `capcache` binary runs, and nothing else: the command line is the library's (feature
//! `cli`: `capcache::cli`, `capcache::cmd`), so the Python package's `capcache` command is the same
//! command line, and `resolve` follows the same rules for the token, the endpoint and the strategies
//! (`src/cmd/settings.rs`), `get` the same `$CAPCACHE_DB`. The GIL is released while the library
//! works.
//!
//! Records cross as JSON text, which the Python package parses. Errors: a bad id or revision is a
//! `ValueError`, a missing file an `OSError`, anything else a `capcache.CapcacheError`; a model no
//! strategy could count raises the exception `capcache._errors.from_failure` picks for the
//! failure's outcome.

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;

use capcache::id::{IdError, ModelId};
use capcache::record::Record;
use capcache::store::read::Found;
use capcache::{cli, cmd};
use clap::Parser;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

mod spelling;
use spelling::python_words;

/// Runs `work` on a thread of its own with the GIL released, while the interpreter's thread
/// checks for signals every 20 ms: Ctrl-C raises `KeyboardInterrupt` at once instead of after the
/// last request. The abandoned work runs to its end in the background (within the model's
/// deadline; what it writes, `update`'s install, is atomic) and its result is dropped.
fn interruptible<T: Send + 'static>(py: Python<'_>, work: impl FnOnce() -> T + Send + 'static) -> PyResult<T> {
    use std::sync::mpsc::TryRecvError;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new().name("capcache".into()).spawn(move || {
        let _ = tx.send(work());
    })?;
    loop {
        match rx.try_recv() {
            Ok(value) => return Ok(value),
            Err(TryRecvError::Empty) => {
                py.detach(|| std::thread::sleep(std::time::Duration::from_millis(20)));
                py.check_signals()?;
            }
            Err(TryRecvError::Disconnected) => {
                return Err(error(py, None, anyhow::anyhow!("capcache panicked; this is a bug")));
            }
        }
    }
}

/// Runs the command line on `argv` (the program name first) and returns its exit code.
#[pyfunction]
fn main(py: Python<'_>, argv: Vec<OsString>) -> u8 {
    py.detach(|| {
        let code = cmd::main(argv);
        // No Rust `main` returns here to flush stdout for us.
        let _ = std::io::stdout().flush();
        code
    })
}

/// The cached record of `model_id` as JSON, from `db` alone, else from the first of
/// `$CAPCACHE_DB`, the db `update` installed and the db.json compiled into the package that has a
/// record of it; `None` when none has. Ids match ignoring case,
/// as on the Hub; the record names the stored id.
#[pyfunction]
#[pyo3(signature = (model_id, db=None))]
fn get(py: Python<'_>, model_id: &str, db: Option<PathBuf>) -> PyResult<Option<String>> {
    let id = ModelId::parse(model_id).map_err(|e| PyValueError::new_err(e.to_string()))?;
    let found = py.detach(|| -> anyhow::Result<Option<String>> {
        lookup(&id, db)?.map(|(id, r)| Ok(cmd::resolve::record_value(&id, &r)?.to_string())).transpose()
    });
    found.map_err(|e| error(py, Some(model_id), e))
}

/// The one place the package reads the cache: per layer, one keyed look-up (SQLite) or one pass
/// over the text (db.json), never the whole store in memory.
fn lookup(id: &ModelId, db: Option<PathBuf>) -> anyhow::Result<Option<(String, Record)>> {
    let layers = cmd::db::layers(db, false)?;
    Ok(match layers.lookup(&[id.as_str()])?.pop() {
        Some((Found::Model(id, record), _)) => Some((id, *record)),
        _ => None,
    })
}

/// Installs the newest published db as `capcache update` does with these flags, and returns
/// what it did as `capcache update --json` prints it.
#[pyfunction]
#[pyo3(signature = (repo=None, revision=None, token=None, endpoint=None))]
fn update(
    py: Python<'_>,
    repo: Option<String>,
    revision: Option<String>,
    token: Option<String>,
    endpoint: Option<String>,
) -> PyResult<String> {
    let mut argv: Vec<OsString> = vec!["capcache".into(), "update".into()];
    let flags = [("repo", repo), ("revision", revision), ("token", token), ("endpoint", endpoint)];
    for (flag, value) in flags {
        if let Some(value) = value {
            argv.push(format!("--{flag}={value}").into());
        }
    }
    let cli::Command::Update(args) =
        cli::Cli::try_parse_from(argv).map_err(|e| PyValueError::new_err(python_words(&e.to_string())))?.command
    else {
        unreachable!("the arguments name the update command");
    };
    let done = interruptible(py, move || -> anyhow::Result<String> {
        let (outcome, path) = cmd::update::install(&args)?;
        Ok(cmd::update::outcome_json(&outcome, &path).to_string())
    })?;
    done.map_err(|e| error(py, None, e))
}

/// Resolves `model_id` through the strategy chain now, as `capcache resolve` does with these
/// flags, and returns the record as JSON.
#[pyfunction]
#[pyo3(signature = (model_id, revision=None, token=None, endpoint=None, allow_download=false, strategies=None))]
fn resolve(
    py: Python<'_>,
    model_id: &str,
    revision: Option<String>,
    token: Option<String>,
    endpoint: Option<String>,
    allow_download: bool,
    strategies: Option<Vec<String>>,
) -> PyResult<String> {
    // The command line's own parser supplies the defaults of every other flag.
    let mut argv: Vec<OsString> = vec!["capcache".into(), "resolve".into()];
    let flags = [
        ("revision", revision),
        ("token", token),
        ("endpoint", endpoint),
        ("strategies", strategies.map(|s| s.join(","))),
    ];
    for (flag, value) in flags {
        if let Some(value) = value {
            argv.push(format!("--{flag}={value}").into());
        }
    }
    if allow_download {
        argv.push("--allow-download".into());
    }
    argv.extend(["--".into(), model_id.into()]);
    let cli::Command::Resolve { model, revision, source, chain, .. } =
        cli::Cli::try_parse_from(argv).map_err(|e| PyValueError::new_err(python_words(&e.to_string())))?.command
    else {
        unreachable!("the arguments name the resolve command");
    };
    let outcome = interruptible(py, move || -> anyhow::Result<Result<String, String>> {
        let (id, outcome) = cmd::resolve::resolve_record(&model, &revision, &source, &chain)?;
        Ok(match outcome {
            Ok(record) => Ok(cmd::resolve::record_value(id.as_str(), &record)?.to_string()),
            Err(failure) => Err(cmd::resolve::failure_value(id.as_str(), &failure)?.to_string()),
        })
    })?;
    match outcome.map_err(|e| error(py, Some(model_id), e))? {
        Ok(record) => Ok(record),
        Err(failure) => {
            let exc =
                PyModule::import(py, "capcache._errors")?.call_method1("from_failure", (python_failure(&failure),))?;
            Err(PyErr::from_value(exc))
        }
    }
}

/// A failure's JSON with its messages (the failure's and each tried strategy's) in Python's words.
fn python_failure(failure: &str) -> String {
    let Ok(mut v) = serde_json::from_str::<serde_json::Value>(failure) else { return failure.to_owned() };
    let mut reword = |m: &mut serde_json::Value| {
        if let Some(text) = m.as_str() {
            *m = python_words(text).into();
        }
    };
    v.get_mut("message").map(&mut reword);
    for t in v.get_mut("tried").and_then(|t| t.as_array_mut()).into_iter().flatten() {
        t.get_mut("message").map(&mut reword);
    }
    v.to_string()
}

/// The config strategy on a `config.json` file, as `capcache estimate --json` prints it.
#[pyfunction]
fn estimate_file(py: Python<'_>, path: PathBuf) -> PyResult<String> {
    let record = py.detach(|| -> anyhow::Result<String> {
        let (config, file) = cmd::resolve::read_config(&path)?;
        let origin = file.display().to_string();
        Ok(cmd::resolve::record_value(&origin, &cmd::resolve::estimate_record(config, &origin)?)?.to_string())
    });
    record.map_err(|e| error(py, None, e))
}

/// The config strategy on a config given as JSON text, named `origin` in the record.
#[pyfunction]
fn estimate_config(py: Python<'_>, config: &str, origin: &str) -> PyResult<String> {
    let record = py.detach(|| -> anyhow::Result<String> {
        Ok(cmd::resolve::record_value(origin, &cmd::resolve::estimate_record(config.as_bytes().to_vec(), origin)?)?
            .to_string())
    });
    record.map_err(|e| error(py, None, e))
}

/// A library error as a Python exception: a bad id or revision is a `ValueError`, an I/O error
/// its `OSError` subclass, anything else a `capcache.CapcacheError` (with the CLI's message).
fn error(py: Python<'_>, model_id: Option<&str>, e: anyhow::Error) -> PyErr {
    let message = python_words(&cmd::error_text(&e));
    if e.downcast_ref::<IdError>().is_some() {
        return PyValueError::new_err(message);
    }
    if let Some(io) = e.downcast_ref::<std::io::Error>() {
        return std::io::Error::new(io.kind(), message).into();
    }
    match PyModule::import(py, "capcache._errors").and_then(|m| m.getattr("CapcacheError")?.call1((model_id, message)))
    {
        Ok(exc) => PyErr::from_value(exc),
        Err(err) => err,
    }
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(main, m)?)?;
    m.add_function(wrap_pyfunction!(get, m)?)?;
    m.add_function(wrap_pyfunction!(resolve, m)?)?;
    m.add_function(wrap_pyfunction!(update, m)?)?;
    m.add_function(wrap_pyfunction!(estimate_file, m)?)?;
    m.add_function(wrap_pyfunction!(estimate_config, m)?)?;
    Ok(())
}
