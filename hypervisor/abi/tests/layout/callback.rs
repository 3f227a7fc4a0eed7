//! Layout fragment for `callback.h`.

use crate::checker::Fragment;
use xen_abi::callback::*;

pub fn fragment() -> Fragment {
    let mut f = Fragment::new("callback.h", &["xen/callback.h"]);
    layout!(f, CallbackRegister => "struct callback_register" { r#type, flags, _pad0, address });
    layout!(f, CallbackUnregister => "struct callback_unregister" { r#type, _unused });
    sub_ops!(f, CallbackOp;
        CALLBACKOP_register = Register,
        CALLBACKOP_unregister = Unregister,
    );
    sub_ops!(f, CallbackType;
        CALLBACKTYPE_event = Event,
        CALLBACKTYPE_failsafe = Failsafe,
        CALLBACKTYPE_syscall = Syscall,
        CALLBACKTYPE_sysenter_deprecated = SysenterDeprecated,
        CALLBACKTYPE_nmi = Nmi,
        CALLBACKTYPE_sysenter = Sysenter,
        CALLBACKTYPE_syscall32 = Syscall32,
    );
    consts!(f;
        CALLBACKF_mask_events = CallbackFlags::MASK_EVENTS.bits(),
    );
    f
}
