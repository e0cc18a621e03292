//! Time-ordered ids (UUID version 7) for commands, correlations and events, made per thread.
//!
//! Every command takes up to three fresh ids, so they are on the hot path. The `uuid` crate's
//! `Uuid::now_v7` serialises every caller of the process on one mutex for its ordering counter and
//! draws 128 random bits per id; here each thread keeps its own generator: the Unix time in
//! milliseconds (48 bits) and 74 bits that start random each millisecond and count up within it,
//! so the ids of one thread are strictly increasing, and ids of different threads collide only if
//! two random 74-bit starting points (seeded from the operating system's generator) come within a
//! few thousand of each other in the same millisecond.

use std::cell::Cell;
use std::time::{SystemTime, UNIX_EPOCH};

use uuid::Uuid;

/// The low 74 bits: what follows the timestamp in a version 7 id, less version and variant.
const TAIL_BITS: u32 = 74;
const TAIL_MASK: u128 = (1 << TAIL_BITS) - 1;

struct Generator {
    /// The millisecond of the last id.
    millis: Cell<u64>,
    /// The 74-bit tail of the last id.
    tail: Cell<u128>,
    /// A 64-bit random stream (wyrand) for the tails.
    seed: Cell<u64>,
}

impl Generator {
    fn new() -> Self {
        let (a, b) = Uuid::new_v4().as_u64_pair();
        Generator {
            millis: Cell::new(0),
            tail: Cell::new(0),
            seed: Cell::new(a ^ b.rotate_left(17)),
        }
    }

    fn next_u64(&self) -> u64 {
        let seed = self.seed.get().wrapping_add(0xa076_1d64_78bd_642f);
        self.seed.set(seed);
        let product = u128::from(seed) * u128::from(seed ^ 0xe703_7ed1_a0b4_28db);
        (product as u64) ^ ((product >> 64) as u64)
    }

    fn next(&self) -> Uuid {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let last = self.millis.get();
        let (millis, tail) = if now > last {
            // A new millisecond: a random tail, its top bit clear so that counting up within the
            // millisecond has room.
            let tail = ((u128::from(self.next_u64()) << 64) | u128::from(self.next_u64()))
                & (TAIL_MASK >> 1);
            (now, tail)
        } else {
            // The same millisecond (or a clock that stepped back): count up by a random step.
            let step = u128::from(self.next_u64() & 0xffff) + 1;
            let tail = self.tail.get() + step;
            if tail > TAIL_MASK {
                (last + 1, tail & (TAIL_MASK >> 1))
            } else {
                (last, tail)
            }
        };
        self.millis.set(millis);
        self.tail.set(tail);
        // rand_a takes 12 bits and rand_b 62: spread the 74 bits over the two fields.
        let rand_a = ((tail >> 62) & 0xfff) as u16;
        let rand_b = (tail & ((1 << 62) - 1)) as u64;
        let mut random = [0u8; 10];
        random[..2].copy_from_slice(&rand_a.to_be_bytes());
        random[2..].copy_from_slice(&rand_b.to_be_bytes());
        uuid::Builder::from_unix_timestamp_millis(millis, &random).into_uuid()
    }
}

thread_local! {
    static GENERATOR: Generator = Generator::new();
}

/// A fresh version 7 id.
pub(crate) fn new_v7() -> Uuid {
    GENERATOR.with(Generator::next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_of_one_thread_increase_and_are_version_7() {
        let ids: Vec<Uuid> = (0..10_000).map(|_| new_v7()).collect();
        for pair in ids.windows(2) {
            assert!(pair[0] < pair[1], "{} then {}", pair[0], pair[1]);
        }
        assert!(ids.iter().all(|id| id.get_version_num() == 7));
        assert!(
            ids.iter()
                .all(|id| id.get_variant() == uuid::Variant::RFC4122)
        );
    }

    #[test]
    fn ids_carry_the_time() {
        let before = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        let id = new_v7();
        let (secs, nanos) = id
            .get_timestamp()
            .expect("a v7 id has a timestamp")
            .to_unix();
        let at = std::time::Duration::new(secs, nanos);
        assert!(at + std::time::Duration::from_millis(1) >= before);
    }

    #[test]
    fn threads_do_not_collide() {
        let handles: Vec<_> = (0..4)
            .map(|_| std::thread::spawn(|| (0..20_000).map(|_| new_v7()).collect::<Vec<_>>()))
            .collect();
        let mut all = std::collections::HashSet::new();
        for handle in handles {
            for id in handle.join().expect("thread") {
                assert!(all.insert(id), "duplicate id {id}");
            }
        }
    }
}
