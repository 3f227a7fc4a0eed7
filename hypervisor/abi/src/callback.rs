//! `callback.h`: `callback_op` — registering the event, failsafe, syscall and NMI entry points.

use bitflags::bitflags;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

sub_op_enum! {
    /// `callback_op` sub-ops (`CALLBACKOP_*`).
    #[doc(alias = "CALLBACKOP")]
    pub enum CallbackOp {
        /// [`CallbackRegister`].
        #[doc(alias = "CALLBACKOP_register")]
        Register = 0,
        /// [`CallbackUnregister`].
        #[doc(alias = "CALLBACKOP_unregister")]
        Unregister = 1,
    }
}

sub_op_enum! {
    /// Callback types (`CALLBACKTYPE_*`).
    #[doc(alias = "CALLBACKTYPE")]
    pub enum CallbackType {
        /// Event upcall.
        #[doc(alias = "CALLBACKTYPE_event")]
        Event = 0,
        /// Segment reload failed on the way back to the guest.
        #[doc(alias = "CALLBACKTYPE_failsafe")]
        Failsafe = 1,
        /// 64-bit `syscall` from guest user mode.
        #[doc(alias = "CALLBACKTYPE_syscall")]
        Syscall = 2,
        /// Old x86-32 `sysenter` number.
        #[doc(alias = "CALLBACKTYPE_sysenter_deprecated")]
        SysenterDeprecated = 3,
        /// NMI.
        #[doc(alias = "CALLBACKTYPE_nmi")]
        Nmi = 4,
        /// `sysenter` (compat mode).
        #[doc(alias = "CALLBACKTYPE_sysenter")]
        Sysenter = 5,
        /// 32-bit `syscall` (compat mode).
        #[doc(alias = "CALLBACKTYPE_syscall32")]
        Syscall32 = 7,
    }
}

bitflags! {
    /// `callback_register.flags` (`CALLBACKF_*`).
    #[doc(alias = "CALLBACKF")]
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct CallbackFlags: u16 {
        /// Mask events on entry to the callback.
        #[doc(alias = "CALLBACKF_mask_events")]
        const MASK_EVENTS = 1 << 0;
    }
}

/// `callback_register` (`CALLBACKOP_register`).
#[doc(alias = "callback_register")]
#[doc(alias = "callback_register_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct CallbackRegister {
    /// A [`CallbackType`] number.
    pub r#type: u16,
    /// [`CallbackFlags`].
    pub flags: u16,
    pub _pad0: u32,
    /// `xen_callback_t`: the entry point.
    pub address: u64,
}
const _: () = assert!(size_of::<CallbackRegister>() == 16);

/// `callback_unregister` (`CALLBACKOP_unregister`).
#[doc(alias = "callback_unregister")]
#[doc(alias = "callback_unregister_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct CallbackUnregister {
    /// A [`CallbackType`] number.
    pub r#type: u16,
    pub _unused: u16,
}
const _: () = assert!(size_of::<CallbackUnregister>() == 4);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sub_op::assert_sub_op;

    #[test]
    fn callback_enums_round_trip_and_unknown_is_enosys() {
        assert_sub_op::<CallbackOp>();
        assert_sub_op::<CallbackType>();
        assert_eq!(CallbackType::try_from(6), Err(crate::Errno::ENOSYS));
    }
}
