//! Fargate's task sizes: the valid (CPU units, memory MiB) pairs, and the smallest one that
//! covers what a spec asks for. Any other pair is refused by ECS at RunTask ("Invalid 'cpu'
//! setting for task"), so berth picks a valid one at submit, or says why there is none.

/// (CPU units, first memory MiB, last memory MiB, step MiB), from "Troubleshoot Amazon ECS
/// task definition invalid CPU or memory errors"; the last two need platform 1.4.0.
const SIZES: [(u32, u32, u32, u32); 7] = [
    (256, 512, 2048, 512),
    (512, 1024, 4096, 1024),
    (1024, 2048, 8192, 1024),
    (2048, 4096, 16384, 1024),
    (4096, 8192, 30720, 1024),
    (8192, 16384, 61440, 4096),
    (16384, 32768, 122880, 8192),
];

/// 256 CPU units only take 512, 1024 or 2048 MiB (not 1536).
fn memories(cpu: u32, first: u32, last: u32, step: u32) -> impl Iterator<Item = u32> {
    (first..=last).step_by(step as usize).filter(move |m| cpu != 256 || *m != 1536)
}

/// Whether (cpu, memory) is a Fargate task size.
pub fn valid(cpu: u32, memory: u32) -> bool {
    SIZES.iter().any(|&(c, f, l, s)| c == cpu && memories(c, f, l, s).any(|m| m == memory))
}

/// The smallest task size with at least `cpu` units and `memory` MiB (billed by size, so
/// the smallest cover is the cheapest); `None` beyond 16 vCPU or 120 GiB.
pub fn cover(cpu: u32, memory: u32) -> Option<(u32, u32)> {
    SIZES
        .iter()
        .filter(|&&(c, ..)| c >= cpu)
        .find_map(|&(c, f, l, s)| memories(c, f, l, s).find(|m| *m >= memory).map(|m| (c, m)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_pairs_and_only_those() {
        assert!(valid(256, 512) && valid(256, 2048) && !valid(256, 1536) && !valid(256, 4096));
        assert!(valid(512, 3072) && valid(4096, 30720) && !valid(4096, 31744));
        assert!(valid(8192, 20480) && !valid(8192, 18432), "steps of 4 GiB at 8 vCPU");
        assert!(valid(16384, 122880) && !valid(16384, 36864), "steps of 8 GiB at 16 vCPU");
        let all: usize = SIZES.iter().map(|&(c, f, l, s)| memories(c, f, l, s).count()).sum();
        assert_eq!(all, 3 + 4 + 7 + 13 + 23 + 12 + 12);
    }

    #[test]
    fn the_smallest_cover_is_picked() {
        assert_eq!(cover(256, 24), Some((256, 512)), "a tiny job on the smallest task");
        assert_eq!(cover(256, 3000), Some((512, 3072)), "more memory than 256 units can have");
        assert_eq!(cover(1536, 2048), Some((2048, 4096)));
        assert_eq!(cover(16384, 122880), Some((16384, 122880)));
        assert_eq!(cover(20000, 1024), None);
        assert_eq!(cover(1024, 130_000), None);
    }
}
