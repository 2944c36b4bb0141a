//! Compiles the CUDA kernels in `kernels/*.cu` to PTX and embeds them in the library.
//!
//! nvcc is looked up through `NVCC`, then `PATH`, then `CUDA_HOME`/`CUDA_PATH`, then the
//! repository's `.tools/cuda` (see `scripts/install-nvcc.sh`), and targets
//! `CUDA_COMPUTE_CAP` (default 80; PTX is JIT-compiled forward to newer devices). Without
//! nvcc the build prints one warning and embeds the kernel sources instead; the CUDA backend
//! then compiles them with NVRTC at first use. A kernel that nvcc rejects fails the build.
//!
//! Each module is recompiled only when its source (with `common.cuh` pasted in), the
//! compute capability or the nvcc path changed, so a rerun with nothing changed costs no
//! nvcc call.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};

const HEADER: &str = "common.cuh";

fn main() {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let out_dir = PathBuf::from(env::var("OUT_DIR").expect("cargo sets it"));
    let kernel_dir = manifest.join("kernels");

    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=kernels");
    for var in ["NVCC", "CUDA_HOME", "CUDA_PATH", "CUDA_COMPUTE_CAP"] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    // PATH is deliberately not watched: it differs between shells and would force needless
    // rebuilds; set NVCC to pick a compiler explicitly.

    let header_path = kernel_dir.join(HEADER);
    println!("cargo:rerun-if-changed={}", header_path.display());
    let header = fs::read_to_string(&header_path)
        .unwrap_or_else(|e| panic!("{}: {e}", header_path.display()));

    let mut names: Vec<String> = fs::read_dir(&kernel_dir)
        .unwrap_or_else(|e| panic!("{}: {e}", kernel_dir.display()))
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            (path.extension()? == "cu").then(|| path.file_stem()?.to_str().map(str::to_owned))?
        })
        .collect();
    names.sort();

    // Every module as one self-contained source: NVRTC has no include path.
    let sources: Vec<String> = names
        .iter()
        .map(|name| {
            let path = kernel_dir.join(format!("{name}.cu"));
            println!("cargo:rerun-if-changed={}", path.display());
            let text =
                fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            inline_header(&text, &header)
        })
        .collect();

    let compute_cap = env::var("CUDA_COMPUTE_CAP").unwrap_or_else(|_| "80".to_owned());
    let compute_cap = compute_cap.trim().replace('.', "");
    let embedded_ptx = match find_nvcc(&manifest) {
        Some(nvcc) => {
            compile_all(&nvcc, &compute_cap, &kernel_dir, &names, &sources, &out_dir);
            true
        }
        None => {
            println!(
                "cargo:warning=nvcc not found (NVCC, PATH, CUDA_HOME, CUDA_PATH, .tools/cuda): \
                 embedding CUDA kernel sources, to be compiled with NVRTC at first use"
            );
            for (name, source) in names.iter().zip(&sources) {
                write_if_changed(&out_dir.join(format!("{name}.cu")), source);
            }
            false
        }
    };

    // The table the CUDA backend loads its modules from.
    let ext = if embedded_ptx { "ptx" } else { "cu" };
    let mut table = String::from(
        "/// Kernel modules as (name, text); PTX when `KERNELS_ARE_PTX`, CUDA C++ otherwise.\n\
         pub const MODULES: &[(&str, &str)] = &[\n",
    );
    for name in &names {
        table.push_str(&format!(
            "    (\"{name}\", include_str!(concat!(env!(\"OUT_DIR\"), \"/{name}.{ext}\"))),\n"
        ));
    }
    table.push_str("];\n");
    table.push_str(&format!(
        "/// Whether `MODULES` holds PTX (built by nvcc) or sources for NVRTC.\n\
         pub const KERNELS_ARE_PTX: bool = {embedded_ptx};\n\
         /// The compute capability the PTX targets.\n\
         pub const PTX_COMPUTE_CAP: u32 = {};\n",
        compute_cap.parse::<u32>().unwrap_or(80)
    ));
    write_if_changed(&out_dir.join("kernels.rs"), &table);
}

/// Replaces `#include "common.cuh"` with the header's text.
fn inline_header(source: &str, header: &str) -> String {
    let directive = format!("#include \"{HEADER}\"");
    let header = header.replace("#pragma once", "");
    source.replace(&directive, &header)
}

fn find_nvcc(manifest: &Path) -> Option<PathBuf> {
    if let Some(path) = env::var_os("NVCC") {
        return Some(PathBuf::from(path));
    }
    if let Some(paths) = env::var_os("PATH") {
        for dir in env::split_paths(&paths) {
            let candidate = dir.join("nvcc");
            if candidate.is_file() {
                return Some(candidate);
            }
        }
    }
    for var in ["CUDA_HOME", "CUDA_PATH"] {
        if let Some(root) = env::var_os(var) {
            let candidate = PathBuf::from(root).join("bin").join("nvcc");
            if candidate.is_file() {
                return Some(candidate);
            }
        }
    }
    // The pip-installed compiler must be called by its real path to find its headers.
    // Only existing paths are watched: Cargo reruns a script whose watched path is missing
    // on every build. Without `.tools`, installing nvcc later needs `touch kernels`.
    let tools = manifest.join(".tools");
    if tools.is_dir() {
        println!("cargo:rerun-if-changed={}", tools.display());
    }
    let local = tools.join("cuda/nvidia/cu13/bin/nvcc");
    local.canonicalize().ok().filter(|path| path.is_file())
}

/// Compiles every module whose input changed, in parallel.
fn compile_all(
    nvcc: &Path,
    compute_cap: &str,
    kernel_dir: &Path,
    names: &[String],
    sources: &[String],
    out: &Path,
) {
    let mut running: Vec<(String, Child)> = Vec::new();
    for (name, source) in names.iter().zip(sources) {
        let ptx = out.join(format!("{name}.ptx"));
        // The original file, so nvcc's messages point at the lines people edit.
        let input = kernel_dir.join(format!("{name}.cu"));
        let key_path = out.join(format!("{name}.key"));
        let key = format!("{}\n{compute_cap}\n{source}", nvcc.display());
        if ptx.is_file() && fs::read_to_string(&key_path).ok().as_deref() == Some(&key) {
            continue;
        }
        let _ = fs::remove_file(&key_path);
        let child = Command::new(nvcc)
            .arg("--ptx")
            .arg(format!("-arch=compute_{compute_cap}"))
            .arg("-O3")
            .arg("-o")
            .arg(&ptx)
            .arg(&input)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", nvcc.display()));
        running.push((name.clone(), child));
    }
    let mut failed = Vec::new();
    for (name, mut child) in running {
        let ok = child.wait().map(|status| status.success()).unwrap_or(false);
        if ok {
            let source = &sources[names.iter().position(|n| *n == name).expect("listed")];
            let key = format!("{}\n{compute_cap}\n{source}", nvcc.display());
            write_if_changed(&out.join(format!("{name}.key")), &key);
        } else {
            failed.push(name);
        }
    }
    if !failed.is_empty() {
        panic!(
            "nvcc ({}) failed on kernels/{}.cu",
            nvcc.display(),
            failed.join(".cu, kernels/")
        );
    }
}

fn write_if_changed(path: &Path, text: &str) {
    if fs::read_to_string(path).ok().as_deref() != Some(text) {
        fs::write(path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
}
