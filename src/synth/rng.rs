//! A small deterministic random generator (SplitMix64) for the synthetic catalog: the same seed
//! gives the same numbers on every platform and in every build, which a crate's generator does
//! not promise across versions.

/// SplitMix64: 64 bits of state, passes BigCrush, and any seed (zero included) is a good one.
#[derive(Debug, Clone)]
pub(crate) struct Rng {
    state: u64,
}

/// Mixes two 64-bit values into one well-spread value (SplitMix64's finaliser over a combination),
/// so that seeds derived for neighbouring indices share no visible structure.
pub(crate) fn mix(a: u64, b: u64) -> u64 {
    let mut z = a ^ b.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(29);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Rng {
    /// A generator started from `seed`.
    pub(crate) fn new(seed: u64) -> Self {
        Self {
            state: mix(seed, 0x5EED),
        }
    }

    /// An independent stream for one purpose (`stream` names it), so that drawing more numbers
    /// for one document or panel never shifts the numbers of another.
    pub(crate) fn derive(seed: u64, stream: u64) -> Self {
        Self::new(mix(seed, stream))
    }

    /// The next 64 random bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub(crate) fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Uniform in [low, high).
    pub(crate) fn uniform(&mut self, low: f32, high: f32) -> f32 {
        low + (high - low) * self.unit()
    }

    /// Uniform in 0..count; `count` must be positive.
    pub(crate) fn below(&mut self, count: usize) -> usize {
        debug_assert!(count > 0);
        ((self.next_u64() >> 11) % count as u64) as usize
    }

    /// Uniform in low..=high.
    pub(crate) fn between(&mut self, low: u32, high: u32) -> u32 {
        low + self.below((high - low + 1) as usize) as u32
    }

    /// True with probability `probability`.
    pub(crate) fn chance(&mut self, probability: f32) -> bool {
        self.unit() < probability
    }

    /// Roughly standard normal (a sum of four uniforms): cheap enough to call once per pixel, and
    /// its bounded tails (±3.5) suit image noise better than true Gaussian outliers.
    pub(crate) fn gaussian(&mut self) -> f32 {
        let bits = self.next_u64();
        let sum: u32 = (0..4).map(|k| ((bits >> (16 * k)) & 0xFFFF) as u32).sum();
        (sum as f32 / 65536.0 - 2.0) * 1.732_050_8
    }

    /// One element of a non-empty slice.
    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// An index drawn with the given (non-negative, not all zero) weights.
    pub(crate) fn weighted(&mut self, weights: &[f32]) -> usize {
        let total: f32 = weights.iter().sum();
        let mut target = self.unit() * total;
        for (index, &weight) in weights.iter().enumerate() {
            if target < weight {
                return index;
            }
            target -= weight;
        }
        weights.len() - 1
    }

    /// Shuffles in place (Fisher–Yates).
    pub(crate) fn shuffle<T>(&mut self, items: &mut [T]) {
        for index in (1..items.len()).rev() {
            let other = self.below(index + 1);
            items.swap(index, other);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let mut first = Rng::derive(7, 1);
        let mut again = Rng::derive(7, 1);
        let mut other = Rng::derive(7, 2);
        let a: Vec<u64> = (0..4).map(|_| first.next_u64()).collect();
        let b: Vec<u64> = (0..4).map(|_| again.next_u64()).collect();
        let c: Vec<u64> = (0..4).map(|_| other.next_u64()).collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn draws_stay_in_range() {
        let mut rng = Rng::new(3);
        for _ in 0..10_000 {
            let unit = rng.unit();
            assert!((0.0..1.0).contains(&unit));
            assert!(rng.between(4, 9) <= 9);
            assert!(rng.gaussian().abs() <= 3.5);
        }
    }
}
