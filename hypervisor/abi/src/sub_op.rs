//! The `SubOp` trait and the `sub_op_enum!` macro every header module uses for its sub-op numbers.
//!
//! A sub-op enum is `#[repr(u32)]`; a guest's number becomes one only through `TryFrom<u32>`, which
//! answers `Errno::ENOSYS` for a number the enum does not know (never a transmute).

use crate::Errno;

/// A `#[repr(u32)]` enum of sub-op (or command) numbers.
pub trait SubOp:
    Copy + Eq + core::fmt::Debug + TryFrom<u32, Error = Errno> + Into<u32> + 'static
{
    /// Every variant, in header order.
    const ALL: &'static [Self];
}

/// Define a `#[repr(u32)]` sub-op enum with `TryFrom<u32>` (unknown → `ENOSYS`), `From<Self> for
/// u32` and [`SubOp`].
macro_rules! sub_op_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $(
                $(#[$vmeta:meta])*
                $variant:ident = $value:expr
            ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[repr(u32)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $(
                $(#[$vmeta])*
                $variant = $value,
            )*
        }

        impl TryFrom<u32> for $name {
            type Error = $crate::Errno;
            fn try_from(v: u32) -> Result<Self, $crate::Errno> {
                $(
                    if v == $value {
                        return Ok($name::$variant);
                    }
                )*
                Err($crate::Errno::ENOSYS)
            }
        }

        impl From<$name> for u32 {
            fn from(v: $name) -> u32 {
                v as u32
            }
        }

        impl $crate::sub_op::SubOp for $name {
            const ALL: &'static [Self] = &[$($name::$variant),*];
        }
    };
}

/// Test helper: every variant round-trips; every other number up to well past the largest, and
/// `u32::MAX`, is `ENOSYS`.
#[cfg(test)]
pub(crate) fn assert_sub_op<T: SubOp>() {
    let mut max = 0u32;
    for v in T::ALL {
        let n: u32 = (*v).into();
        assert_eq!(T::try_from(n), Ok(*v), "{v:?} does not round-trip");
        max = max.max(n);
    }
    let known = |n: u32| T::ALL.iter().any(|v| Into::<u32>::into(*v) == n);
    let neighbours = T::ALL.iter().flat_map(|v| {
        let n: u32 = (*v).into();
        [n.wrapping_sub(1), n.wrapping_add(1)]
    });
    let low = 0..=max.saturating_add(64).min(4096);
    for n in low.chain(neighbours).chain([u32::MAX, 0x8000_0000]) {
        if !known(n) {
            assert_eq!(T::try_from(n), Err(Errno::ENOSYS), "{n} should be ENOSYS");
        }
    }
}

/// Copies a sub-op argument `T` out of the raw bytes of a C union (`xen_domctl.u`,
/// `xen_sysctl.u`, `xen_platform_op.u`); `None` if `T` is larger than the union.
/// The typed accessors of a hypercall argument struct whose C union `u` is kept as raw words:
/// `arg::<T>()` copies the sub-op's struct out, `set_arg(&v)` copies one in.
macro_rules! union_op {
    ($name:ident) => {
        impl $name {
            /// Copy the sub-op argument `T` out of `u`, or `None` if `T` is larger than the union.
            pub fn arg<T: zerocopy::FromBytes>(&self) -> Option<T> {
                $crate::sub_op::union_arg(zerocopy::IntoBytes::as_bytes(&self.u))
            }
            /// Copy `v` into the start of `u`; `false` if `T` is larger than the union.
            pub fn set_arg<T: zerocopy::IntoBytes + zerocopy::Immutable>(&mut self, v: &T) -> bool {
                $crate::sub_op::set_union_arg(zerocopy::IntoBytes::as_mut_bytes(&mut self.u), v)
            }
        }
    };
}

pub(crate) fn union_arg<T: zerocopy::FromBytes>(u: &[u8]) -> Option<T> {
    T::read_from_prefix(u).ok().map(|(t, _)| t)
}

/// Copies `v` into the start of a C union's raw bytes; `false` if `T` is larger than the union.
pub(crate) fn set_union_arg<T: zerocopy::IntoBytes + zerocopy::Immutable>(
    u: &mut [u8],
    v: &T,
) -> bool {
    let src = v.as_bytes();
    match u.get_mut(..src.len()) {
        Some(dst) => {
            dst.copy_from_slice(src);
            true
        }
        None => false,
    }
}
