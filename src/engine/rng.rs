//! Counter-based random numbers: a value is a pure function of `(seed, index)`, so the CPU
//! and CUDA backends draw identical dropout masks without sharing state, and a step can be
//! replayed from its seed alone. The mixer is SplitMix64's finaliser, which CUDA computes
//! with the same 64-bit integer arithmetic.

/// SplitMix64 finaliser: a bijective 64-bit mix with good avalanche.
#[inline]
pub fn mix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// A uniform draw in [0, 1) for element `index` of the stream `seed` (24-bit resolution,
/// exact in f32).
#[inline]
pub fn uniform(seed: u64, index: u64) -> f32 {
    let bits = mix64(seed ^ mix64(index));
    (bits >> 40) as f32 * (1.0 / (1u64 << 24) as f32)
}

/// Whether dropout with probability `p` keeps element `index` of stream `seed`.
#[inline]
pub fn dropout_keep(seed: u64, index: u64, p: f32) -> bool {
    uniform(seed, index) >= p
}

/// A small sequential generator for host-side sampling (task choice, shuffles, init).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Rng {
    seed: u64,
    counter: u64,
}

impl Rng {
    /// A generator whose whole future is determined by `seed`.
    pub fn new(seed: u64) -> Self {
        Rng {
            seed: mix64(seed),
            counter: 0,
        }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.counter += 1;
        mix64(self.seed ^ mix64(self.counter))
    }

    /// A uniform draw in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// A uniform draw in [lo, hi).
    pub fn uniform(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.next_f64() as f32
    }

    /// A uniform index in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        // Multiply-shift keeps the bias below 2^-64 * n, negligible for our sizes.
        ((self.next_u64() as u128 * n as u128) >> 64) as usize
    }

    /// Shuffles `items` in place (Fisher-Yates).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }

    /// A child generator for an independent stream, derived without advancing `self`.
    pub fn fork(&self, stream: u64) -> Rng {
        Rng {
            seed: mix64(self.seed ^ mix64(stream ^ 0xD1B5_4A32_D192_ED03)),
            counter: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniform_is_in_range_and_roughly_uniform() {
        let n = 100_000;
        let mean: f64 = (0..n).map(|i| uniform(7, i) as f64).sum::<f64>() / n as f64;
        assert!((mean - 0.5).abs() < 0.01, "mean {mean}");
        assert!((0..n).all(|i| (0.0..1.0).contains(&uniform(7, i))));
    }

    #[test]
    fn dropout_keeps_the_expected_fraction() {
        let kept = (0..50_000).filter(|&i| dropout_keep(3, i, 0.3)).count();
        assert!((kept as f64 / 50_000.0 - 0.7).abs() < 0.01, "kept {kept}");
    }

    #[test]
    fn rng_is_deterministic_and_shuffles_are_permutations() {
        let mut a = Rng::new(90);
        let mut b = Rng::new(90);
        assert_eq!(a.next_u64(), b.next_u64());
        let mut v: Vec<usize> = (0..100).collect();
        a.shuffle(&mut v);
        let mut sorted = v.clone();
        sorted.sort();
        assert_eq!(sorted, (0..100).collect::<Vec<_>>());
        assert_ne!(v, sorted);
        assert!((0..1000).all(|_| a.below(7) < 7));
    }
}
