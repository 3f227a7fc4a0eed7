//! Layout fragment for `version.h`.

use crate::checker::Fragment;
use xen_abi::version::*;

pub fn fragment() -> Fragment {
    let mut f = Fragment::new("version.h", &["xen/version.h"]);
    layout!(f, XenCompileInfo => "struct xen_compile_info" {
        compiler, compile_by, compile_domain, compile_date,
    });
    layout!(f, XenPlatformParameters => "struct xen_platform_parameters" { virt_start });
    layout!(f, XenFeatureInfo => "struct xen_feature_info" { submap_idx, submap });
    layout!(f, XenBuildId => "struct xen_build_id" { len, buf });
    sub_ops!(f, XenVer;
        XENVER_version = Version,
        XENVER_extraversion = Extraversion,
        XENVER_compile_info = CompileInfo,
        XENVER_capabilities = Capabilities,
        XENVER_changeset = Changeset,
        XENVER_platform_parameters = PlatformParameters,
        XENVER_get_features = GetFeatures,
        XENVER_pagesize = Pagesize,
        XENVER_guest_handle = GuestHandle,
        XENVER_commandline = Commandline,
        XENVER_build_id = BuildId,
    );
    consts!(f;
        XEN_EXTRAVERSION_LEN = XEN_EXTRAVERSION_LEN,
        XEN_CAPABILITIES_INFO_LEN = XEN_CAPABILITIES_INFO_LEN,
        XEN_CHANGESET_INFO_LEN = XEN_CHANGESET_INFO_LEN,
        "sizeof(xen_extraversion_t)" = size_of::<XenExtraversion>(),
        "sizeof(xen_capabilities_info_t)" = size_of::<XenCapabilitiesInfo>(),
        "sizeof(xen_changeset_info_t)" = size_of::<XenChangesetInfo>(),
        "sizeof(xen_commandline_t)" = size_of::<XenCommandline>(),
    );
    f
}
