//! `vcpu.h`: the `VCPUOP_*` sub-ops of `vcpu_op` — bringing vCPUs up, runstate, timers, and
//! placing `vcpu_info` and `vcpu_time_info` in guest memory.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use crate::types::Mfn;

sub_op_enum! {
    /// `vcpu_op` sub-ops (`VCPUOP_*`).
    #[doc(alias = "VCPUOP")]
    pub enum VcpuOp {
        /// Initialise a vCPU from a `vcpu_guest_context`.
        #[doc(alias = "VCPUOP_initialise")]
        Initialise = 0,
        /// Bring an initialised vCPU online.
        #[doc(alias = "VCPUOP_up")]
        Up = 1,
        /// Take a vCPU offline.
        #[doc(alias = "VCPUOP_down")]
        Down = 2,
        /// Returns 1 if the vCPU is up.
        #[doc(alias = "VCPUOP_is_up")]
        IsUp = 3,
        /// Fills a [`VcpuRunstateInfo`].
        #[doc(alias = "VCPUOP_get_runstate_info")]
        GetRunstateInfo = 4,
        /// [`VcpuRegisterRunstateMemoryArea`].
        #[doc(alias = "VCPUOP_register_runstate_memory_area")]
        RegisterRunstateMemoryArea = 5,
        /// [`VcpuSetPeriodicTimer`].
        #[doc(alias = "VCPUOP_set_periodic_timer")]
        SetPeriodicTimer = 6,
        /// No argument.
        #[doc(alias = "VCPUOP_stop_periodic_timer")]
        StopPeriodicTimer = 7,
        /// [`VcpuSetSingleshotTimer`].
        #[doc(alias = "VCPUOP_set_singleshot_timer")]
        SetSingleshotTimer = 8,
        /// No argument.
        #[doc(alias = "VCPUOP_stop_singleshot_timer")]
        StopSingleshotTimer = 9,
        /// [`VcpuRegisterVcpuInfo`].
        #[doc(alias = "VCPUOP_register_vcpu_info")]
        RegisterVcpuInfo = 10,
        /// Send an NMI to the vCPU.
        #[doc(alias = "VCPUOP_send_nmi")]
        SendNmi = 11,
        /// Fills a [`VcpuGetPhysid`].
        #[doc(alias = "VCPUOP_get_physid")]
        GetPhysid = 12,
        /// [`VcpuRegisterTimeMemoryArea`].
        #[doc(alias = "VCPUOP_register_vcpu_time_memory_area")]
        RegisterVcpuTimeMemoryArea = 13,
    }
}

/// `RUNSTATE_running`: running on a physical CPU.
#[doc(alias = "RUNSTATE_running")]
pub const RUNSTATE_RUNNING: i32 = 0;
/// `RUNSTATE_runnable`: runnable, waiting for a physical CPU.
#[doc(alias = "RUNSTATE_runnable")]
pub const RUNSTATE_RUNNABLE: i32 = 1;
/// `RUNSTATE_blocked`: blocked on an event.
#[doc(alias = "RUNSTATE_blocked")]
pub const RUNSTATE_BLOCKED: i32 = 2;
/// `RUNSTATE_offline`: down, or preempted by the hypervisor for too long.
#[doc(alias = "RUNSTATE_offline")]
pub const RUNSTATE_OFFLINE: i32 = 3;

/// `XEN_RUNSTATE_UPDATE`: set in `state_entry_time` while the area is being updated.
pub const XEN_RUNSTATE_UPDATE: u64 = 1 << 63;

/// `vcpu_runstate_info`: time spent in each runstate.
#[doc(alias = "vcpu_runstate_info")]
#[doc(alias = "vcpu_runstate_info_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct VcpuRunstateInfo {
    /// `RUNSTATE_*`.
    pub state: i32,
    pub _pad0: u32,
    /// System time (ns) the current state was entered; may carry `XEN_RUNSTATE_UPDATE`.
    pub state_entry_time: u64,
    /// Nanoseconds spent in each `RUNSTATE_*`.
    pub time: [u64; 4],
}
const _: () = assert!(size_of::<VcpuRunstateInfo>() == 48);

/// `vcpu_register_runstate_memory_area`: the union `addr` (handle, pointer or `p`) as one `u64`
/// guest virtual address.
#[doc(alias = "vcpu_register_runstate_memory_area")]
#[doc(alias = "vcpu_register_runstate_memory_area_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct VcpuRegisterRunstateMemoryArea {
    pub addr: u64,
}
const _: () = assert!(size_of::<VcpuRegisterRunstateMemoryArea>() == 8);

/// `vcpu_set_periodic_timer`.
#[doc(alias = "vcpu_set_periodic_timer")]
#[doc(alias = "vcpu_set_periodic_timer_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct VcpuSetPeriodicTimer {
    pub period_ns: u64,
}
const _: () = assert!(size_of::<VcpuSetPeriodicTimer>() == 8);

/// `VCPU_SSHOTTMR_future`: fail with `-ETIME` if the timeout is already past (ignored by Xen
/// since 4.6; kept for the ABI).
#[doc(alias = "VCPU_SSHOTTMR_future")]
pub const VCPU_SSHOTTMR_FUTURE: u32 = 1 << 0;

/// `vcpu_set_singleshot_timer`.
#[doc(alias = "vcpu_set_singleshot_timer")]
#[doc(alias = "vcpu_set_singleshot_timer_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct VcpuSetSingleshotTimer {
    /// Absolute system time in ns.
    pub timeout_abs_ns: u64,
    /// `VCPU_SSHOTTMR_*`.
    pub flags: u32,
    pub _pad0: u32,
}
const _: () = assert!(size_of::<VcpuSetSingleshotTimer>() == 16);

/// `vcpu_register_vcpu_info`: move the vCPU's `vcpu_info` out of `shared_info`.
#[doc(alias = "vcpu_register_vcpu_info")]
#[doc(alias = "vcpu_register_vcpu_info_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct VcpuRegisterVcpuInfo {
    /// Frame of the page to hold the `vcpu_info`.
    pub mfn: Mfn,
    /// Offset within that page.
    pub offset: u32,
    /// Unused.
    pub rsvd: u32,
}
const _: () = assert!(size_of::<VcpuRegisterVcpuInfo>() == 16);

/// `vcpu_get_physid`.
#[doc(alias = "vcpu_get_physid")]
#[doc(alias = "vcpu_get_physid_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct VcpuGetPhysid {
    /// APIC id in bits 0-31, ACPI id in bits 32-63.
    pub phys_id: u64,
}
const _: () = assert!(size_of::<VcpuGetPhysid>() == 8);

impl VcpuGetPhysid {
    /// `xen_vcpu_physid_to_x86_apicid`.
    #[doc(alias = "xen_vcpu_physid_to_x86_apicid")]
    pub const fn x86_apicid(&self) -> u32 {
        self.phys_id as u32
    }
    /// `xen_vcpu_physid_to_x86_acpiid`.
    #[doc(alias = "xen_vcpu_physid_to_x86_acpiid")]
    pub const fn x86_acpiid(&self) -> u32 {
        (self.phys_id >> 32) as u32
    }
}

/// `vcpu_register_time_memory_area`: the union `addr` as one `u64` guest virtual address.
#[doc(alias = "vcpu_register_time_memory_area")]
#[doc(alias = "vcpu_register_time_memory_area_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct VcpuRegisterTimeMemoryArea {
    pub addr: u64,
}
const _: () = assert!(size_of::<VcpuRegisterTimeMemoryArea>() == 8);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sub_op::assert_sub_op;

    #[test]
    fn vcpuop_round_trips_and_unknown_is_enosys() {
        assert_sub_op::<VcpuOp>();
    }

    #[test]
    fn physid_splits_apic_and_acpi_ids() {
        let p = VcpuGetPhysid {
            phys_id: 0x0000_0005_0000_0003,
        };
        assert_eq!((p.x86_apicid(), p.x86_acpiid()), (3, 5));
    }
}
