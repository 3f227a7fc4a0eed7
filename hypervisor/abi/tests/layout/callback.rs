//! Layout fragment for `callback.h`.

use crate::checker::Fragment;
use xen_abi::callback::*;

pub fn fragment() -> Fragment {
    let mut f = Fragment::new("callback.h", &["xen/callback.h"]);
    layout!(f, CallbackRegister => "struct callback_register" { r#type, flags, _pad0, address });
    layout!(f, CallbackUnregister => "struct callback_unregister" { r#type, _unused });
    consts!(f;
        CALLBACKOP_register = CallbackOp::Register,
        CALLBACKOP_unregister = CallbackOp::Unregister,
        CALLBACKTYPE_event = CallbackType::Event,
        CALLBACKTYPE_failsafe = CallbackType::Failsafe,
        CALLBACKTYPE_syscall = CallbackType::Syscall,
        CALLBACKTYPE_sysenter_deprecated = CallbackType::SysenterDeprecated,
        CALLBACKTYPE_nmi = CallbackType::Nmi,
        CALLBACKTYPE_sysenter = CallbackType::Sysenter,
        CALLBACKTYPE_syscall32 = CallbackType::Syscall32,
        CALLBACKF_mask_events = CallbackFlags::MASK_EVENTS.bits(),
    );
    f
}
