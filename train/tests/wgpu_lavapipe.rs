//! Training on the wgpu backend: the same steps from the same weights and batches give the
//! same losses as on flex, and the loss goes down. Behind the `wgpu` feature (its build is
//! about 45 minutes on two cores, too long for CI); on a machine without a GPU it runs on
//! Mesa's lavapipe Vulkan driver (package mesa-vulkan-drivers):
//!
//! ```sh
//! CUBECL_AUTOTUNE_LEVEL=minimal cargo test --release -p walloc-train --features wgpu --test wgpu_lavapipe
//! ```
#![cfg(feature = "wgpu")]

use std::path::Path;

use burn::module::Module;
use burn::tensor::{Device, DeviceKind};
use walloc_core::codec::Codec;
use walloc_core::config::CodecConfig;
use walloc_train::trainer::{RunSettings, Trainer};

#[path = "../../cli/tests/common/scratch.rs"]
mod scratch;
use scratch::scratch;

#[test]
fn tiny_trains_on_wgpu_as_on_flex() {
    let steps = 12;
    let settings = RunSettings {
        steps,
        batch: 4,
        crop: 32,
        lambda: 0.01,
        lr: 1e-2,
        warmup: 2,
        valid_every: steps,
        seed: 7,
        data: Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/images"),
        valid: None,
        freeze_encoder: false,
    };
    let config = CodecConfig::preset("tiny").unwrap();
    let init = Codec::new(&config, &Device::flex().autodiff());
    let gpu = Device::wgpu(DeviceKind::DefaultDevice);
    let (dir_cpu, dir_gpu) = (scratch("flex"), scratch("wgpu"));
    let mut cpu = Trainer::open(
        config.clone(),
        settings.clone(),
        &dir_cpu,
        Device::flex(),
        false,
        Some(init.clone()),
    )
    .unwrap();
    let mut wgpu = Trainer::open(
        config,
        settings,
        &dir_gpu,
        gpu.clone(),
        false,
        // `fork`, not `to_device`: a moved parameter would be an op in the graph, not a leaf.
        Some(init.fork(&gpu.autodiff())),
    )
    .unwrap();
    let mut losses = Vec::new();
    for step in 0..steps {
        let (a, b) = (cpu.train_step(), wgpu.train_step());
        // Both draw the same batches and noise (the trainer owns its RNG); only the
        // order of float sums differs between backends.
        let rel = (a.loss - b.loss).abs() / a.loss.abs().max(1e-9);
        assert!(
            rel < 2e-3,
            "step {step}: flex loss {} vs wgpu loss {}",
            a.loss,
            b.loss
        );
        losses.push(b.loss);
    }
    let (first, last) = (
        losses[..3].iter().sum::<f32>(),
        losses[steps - 3..].iter().sum::<f32>(),
    );
    assert!(last < first, "wgpu loss did not go down: {losses:?}");
}
