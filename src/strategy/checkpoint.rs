//! What a set of weight files can back: an exact count needs tensors to count, and counts each
//! tensor once. A file that holds no tensors (an empty header, a pickle of an empty dict) backs no
//! number; a tensor name held by two files of one checkpoint (one folder: two shards claiming the
//! same tensor, two byte-identical shards, `model.pt` beside `model_ema.pt`) would be summed
//! twice. Either makes the strategy miss, so the chain never writes such a sum as exact.

use std::collections::HashMap;

use super::Miss;
use crate::format::TensorInfo;

/// Whether each file must hold tensors of its own (not GGUF: a split set's first part may hold
/// only metadata).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EachFile {
    HoldsTensors,
    MayBeEmpty,
}

/// Checks the tensors read from `files` (in the same order) before they are counted together.
pub fn check(files: &[String], tensors: &[Vec<TensorInfo>], each: EachFile) -> Result<(), Miss> {
    if each == EachFile::HoldsTensors
        && let Some((file, _)) = files.iter().zip(tensors).find(|(_, t)| t.is_empty())
    {
        return Err(Miss::invalid(file, "holds no tensors: it cannot back a parameter count"));
    }
    if tensors.iter().all(Vec::is_empty) {
        let what = files.join(", ");
        return Err(Miss::invalid(&what, "no tensors in the weight files: they cannot back a parameter count"));
    }
    // Tensor names are per checkpoint, and a checkpoint is a folder (diffusers components and
    // sentence-transformers modules reuse names across folders).
    let mut seen: HashMap<(&str, &str), &str> = HashMap::new();
    for (file, ts) in files.iter().zip(tensors) {
        let folder = file.rsplit_once('/').map_or("", |(dir, _)| dir);
        for t in ts {
            if let Some(first) = seen.insert((folder, t.name.as_str()), file.as_str())
                && first != file
            {
                return Err(Miss::invalid(
                    file,
                    format!(
                        "tensor {:?} is in {first} too: summing both files would count it twice (two copies of one checkpoint?)",
                        crate::text::printable(&t.name)
                    ),
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(name: &str) -> TensorInfo {
        TensorInfo { name: name.into(), dtype: "F32".into(), shape: vec![2] }
    }

    #[test]
    fn empty_files_and_twice_held_names_are_refused_per_folder() {
        let files = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let ok = check(&files(&["a", "b"]), &[vec![t("x")], vec![t("y")]], EachFile::HoldsTensors);
        assert!(ok.is_ok());
        let e = check(&files(&["a", "b"]), &[vec![t("x")], vec![]], EachFile::HoldsTensors).unwrap_err();
        assert!(e.message.starts_with("b: holds no tensors"), "{e:?}");
        assert!(check(&files(&["a", "b"]), &[vec![t("x")], vec![]], EachFile::MayBeEmpty).is_ok());
        assert!(check(&files(&["a"]), &[vec![]], EachFile::MayBeEmpty).is_err());
        let e = check(&files(&["model.pt", "model_ema.pt"]), &[vec![t("x")], vec![t("x")]], EachFile::HoldsTensors)
            .unwrap_err();
        assert!(e.message.contains("model_ema.pt") && e.message.contains("model.pt too"), "{e:?}");
        // The same name in two folders is two checkpoints (a pipeline's components).
        assert!(
            check(&files(&["unet/m", "vae/m"]), &[vec![t("conv_in")], vec![t("conv_in")]], EachFile::HoldsTensors)
                .is_ok()
        );
    }
}
