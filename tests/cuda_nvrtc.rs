//! The kernel sources compile with NVRTC as well as with nvcc: builds without nvcc embed the
//! sources and compile them at first use, so they must need no header beyond NVRTC's
//! built-ins. Needs only the NVRTC library, not a GPU; skipped when it is absent (put its
//! folder on LD_LIBRARY_PATH, e.g. from the `nvidia-cuda-nvrtc-cu12` wheel).

use std::fs;
use std::path::Path;

#[test]
fn every_kernel_module_compiles_with_nvrtc() {
    // SAFETY: only probes whether the shared library can be opened.
    if !unsafe { cudarc::nvrtc::sys::is_culib_present() } {
        eprintln!("skipped: NVRTC library not found (libnvrtc.so)");
        return;
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("kernels");
    let header = fs::read_to_string(dir.join("common.cuh")).expect("kernels/common.cuh");
    let mut compiled = 0;
    for entry in fs::read_dir(&dir).expect("kernels/") {
        let path = entry.expect("directory entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("cu") {
            continue;
        }
        // As build.rs embeds it: the shared header pasted in place of its #include.
        let source = fs::read_to_string(&path).expect("kernel source").replace(
            "#include \"common.cuh\"",
            &header.replace("#pragma once", ""),
        );
        let opts = cudarc::nvrtc::CompileOptions {
            options: vec!["--gpu-architecture=compute_80".into()],
            ..Default::default()
        };
        let ptx = cudarc::nvrtc::compile_ptx_with_opts(&source, opts)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(
            ptx.to_src().contains(".entry"),
            "{}: no kernel in the PTX",
            path.display()
        );
        compiled += 1;
    }
    assert!(compiled >= 6, "only {compiled} kernel modules found");
}
