//! `version.h`: the `XENVER_*` sub-ops of `xen_version` and the structs and buffers they fill.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

sub_op_enum! {
    /// `xen_version` sub-ops (`XENVER_*`).
    #[doc(alias = "XENVER")]
    pub enum XenVer {
        /// Returns `major << 16 | minor`.
        #[doc(alias = "XENVER_version")]
        Version = 0,
        /// Fills a `xen_extraversion_t` (16 bytes).
        #[doc(alias = "XENVER_extraversion")]
        Extraversion = 1,
        /// Fills a [`XenCompileInfo`].
        #[doc(alias = "XENVER_compile_info")]
        CompileInfo = 2,
        /// Fills a `xen_capabilities_info_t` (1024 bytes), e.g. `"xen-3.0-x86_64 "`.
        #[doc(alias = "XENVER_capabilities")]
        Capabilities = 3,
        /// Fills a `xen_changeset_info_t` (64 bytes).
        #[doc(alias = "XENVER_changeset")]
        Changeset = 4,
        /// Fills a [`XenPlatformParameters`].
        #[doc(alias = "XENVER_platform_parameters")]
        PlatformParameters = 5,
        /// In/out [`XenFeatureInfo`].
        #[doc(alias = "XENVER_get_features")]
        GetFeatures = 6,
        /// Returns the page size.
        #[doc(alias = "XENVER_pagesize")]
        Pagesize = 7,
        /// Fills the domain's `xen_domain_handle_t`.
        #[doc(alias = "XENVER_guest_handle")]
        GuestHandle = 8,
        /// Fills a `xen_commandline_t` (1024 bytes); privileged.
        #[doc(alias = "XENVER_commandline")]
        Commandline = 9,
        /// In/out [`XenBuildId`] followed by its buffer.
        #[doc(alias = "XENVER_build_id")]
        BuildId = 10,
    }
}

/// `XEN_EXTRAVERSION_LEN`: size of `xen_extraversion_t`.
pub const XEN_EXTRAVERSION_LEN: usize = 16;
/// `xen_extraversion_t`.
#[doc(alias = "xen_extraversion_t")]
pub type XenExtraversion = [u8; XEN_EXTRAVERSION_LEN];
/// `XEN_CAPABILITIES_INFO_LEN`: size of `xen_capabilities_info_t`.
pub const XEN_CAPABILITIES_INFO_LEN: usize = 1024;
/// `xen_capabilities_info_t`.
#[doc(alias = "xen_capabilities_info_t")]
pub type XenCapabilitiesInfo = [u8; XEN_CAPABILITIES_INFO_LEN];
/// `XEN_CHANGESET_INFO_LEN`: size of `xen_changeset_info_t`.
pub const XEN_CHANGESET_INFO_LEN: usize = 64;
/// `xen_changeset_info_t`.
#[doc(alias = "xen_changeset_info_t")]
pub type XenChangesetInfo = [u8; XEN_CHANGESET_INFO_LEN];
/// Size of `xen_commandline_t`.
pub const XEN_COMMANDLINE_LEN: usize = 1024;
/// `xen_commandline_t`.
#[doc(alias = "xen_commandline_t")]
pub type XenCommandline = [u8; XEN_COMMANDLINE_LEN];

/// `xen_compile_info` (`XENVER_compile_info`).
#[doc(alias = "xen_compile_info")]
#[doc(alias = "xen_compile_info_t")]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct XenCompileInfo {
    pub compiler: [u8; 64],
    pub compile_by: [u8; 16],
    pub compile_domain: [u8; 32],
    pub compile_date: [u8; 32],
}
const _: () = assert!(size_of::<XenCompileInfo>() == 144);

/// `xen_platform_parameters` (`XENVER_platform_parameters`): where the hypervisor range starts.
#[doc(alias = "xen_platform_parameters")]
#[doc(alias = "xen_platform_parameters_t")]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct XenPlatformParameters {
    pub virt_start: u64,
}
const _: () = assert!(size_of::<XenPlatformParameters>() == 8);

/// `xen_feature_info` (`XENVER_get_features`).
#[doc(alias = "xen_feature_info")]
#[doc(alias = "xen_feature_info_t")]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct XenFeatureInfo {
    /// IN: which 32-bit submap to return.
    pub submap_idx: u32,
    /// OUT: the submap (`XENFEAT_*` bits).
    pub submap: u32,
}
const _: () = assert!(size_of::<XenFeatureInfo>() == 8);

/// `xen_build_id` (`XENVER_build_id`): the fixed header; `len` bytes of id follow it.
#[doc(alias = "xen_build_id")]
#[doc(alias = "xen_build_id_t")]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct XenBuildId {
    /// IN: size of the buffer; OUT: size of the id.
    pub len: u32,
    /// The flexible array member.
    pub buf: [u8; 0],
}
const _: () = assert!(size_of::<XenBuildId>() == 4);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sub_op::assert_sub_op;

    #[test]
    fn xenver_round_trips_and_unknown_is_enosys() {
        assert_sub_op::<XenVer>();
    }
}
