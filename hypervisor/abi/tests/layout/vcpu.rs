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
    sub_ops!(f, VcpuOp;
        VCPUOP_initialise = Initialise,
        VCPUOP_up = Up,
        VCPUOP_down = Down,
        VCPUOP_is_up = IsUp,
        VCPUOP_get_runstate_info = GetRunstateInfo,
        VCPUOP_register_runstate_memory_area = RegisterRunstateMemoryArea,
        VCPUOP_set_periodic_timer = SetPeriodicTimer,
        VCPUOP_stop_periodic_timer = StopPeriodicTimer,
        VCPUOP_set_singleshot_timer = SetSingleshotTimer,
        VCPUOP_stop_singleshot_timer = StopSingleshotTimer,
        VCPUOP_register_vcpu_info = RegisterVcpuInfo,
        VCPUOP_send_nmi = SendNmi,
        VCPUOP_get_physid = GetPhysid,
        VCPUOP_register_vcpu_time_memory_area = RegisterVcpuTimeMemoryArea,
    );
    consts!(f;
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
