//! Layout fragment for `vcpu.h`.

use crate::checker::Fragment;
use xen_abi::vcpu::*;

pub fn fragment() -> Fragment {
    let mut f = Fragment::new("vcpu.h", &["xen/vcpu.h"]);
    layout!(f, VcpuRunstateInfo => "struct vcpu_runstate_info" {
        state, _pad0, state_entry_time, time,
    });
    layout!(f, VcpuRegisterRunstateMemoryArea => "struct vcpu_register_runstate_memory_area" {
        addr,
    });
    layout!(f, VcpuSetPeriodicTimer => "struct vcpu_set_periodic_timer" { period_ns });
    layout!(f, VcpuSetSingleshotTimer => "struct vcpu_set_singleshot_timer" {
        timeout_abs_ns, flags, _pad0,
    });
    layout!(f, VcpuRegisterVcpuInfo => "struct vcpu_register_vcpu_info" { mfn, offset, rsvd });
    layout!(f, VcpuGetPhysid => "struct vcpu_get_physid" { phys_id });
    layout!(f, VcpuRegisterTimeMemoryArea => "struct vcpu_register_time_memory_area" { addr });
    consts!(f;
        VCPUOP_initialise = VcpuOp::Initialise,
        VCPUOP_up = VcpuOp::Up,
        VCPUOP_down = VcpuOp::Down,
        VCPUOP_is_up = VcpuOp::IsUp,
        VCPUOP_get_runstate_info = VcpuOp::GetRunstateInfo,
        VCPUOP_register_runstate_memory_area = VcpuOp::RegisterRunstateMemoryArea,
        VCPUOP_set_periodic_timer = VcpuOp::SetPeriodicTimer,
        VCPUOP_stop_periodic_timer = VcpuOp::StopPeriodicTimer,
        VCPUOP_set_singleshot_timer = VcpuOp::SetSingleshotTimer,
        VCPUOP_stop_singleshot_timer = VcpuOp::StopSingleshotTimer,
        VCPUOP_register_vcpu_info = VcpuOp::RegisterVcpuInfo,
        VCPUOP_send_nmi = VcpuOp::SendNmi,
        VCPUOP_get_physid = VcpuOp::GetPhysid,
        VCPUOP_register_vcpu_time_memory_area = VcpuOp::RegisterVcpuTimeMemoryArea,
        RUNSTATE_running = RUNSTATE_RUNNING,
        RUNSTATE_runnable = RUNSTATE_RUNNABLE,
        RUNSTATE_blocked = RUNSTATE_BLOCKED,
        RUNSTATE_offline = RUNSTATE_OFFLINE,
        XEN_RUNSTATE_UPDATE = XEN_RUNSTATE_UPDATE,
        VCPU_SSHOTTMR_future = VCPU_SSHOTTMR_FUTURE,
        "xen_vcpu_physid_to_x86_apicid(0x500000003ULL)" =
            VcpuGetPhysid { phys_id: 0x5_0000_0003 }.x86_apicid(),
        "xen_vcpu_physid_to_x86_acpiid(0x500000003ULL)" =
            VcpuGetPhysid { phys_id: 0x5_0000_0003 }.x86_acpiid(),
    );
    f
}
