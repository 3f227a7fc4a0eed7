//! `errno.h`: the error numbers Xen returns to guests, as `Errno`.

/// A Xen error number (`XEN_E*` in `errno.h`). Hypercalls return its negation.
#[doc(alias = "XEN_ERRNO")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(i32)]
pub enum Errno {
    /// Operation not permitted
    #[doc(alias = "XEN_EPERM")]
    EPERM = 1,
    /// No such file or directory
    #[doc(alias = "XEN_ENOENT")]
    ENOENT = 2,
    /// No such process
    #[doc(alias = "XEN_ESRCH")]
    ESRCH = 3,
    /// Interrupted system call
    #[doc(alias = "XEN_EINTR")]
    EINTR = 4,
    /// I/O error
    #[doc(alias = "XEN_EIO")]
    EIO = 5,
    /// No such device or address
    #[doc(alias = "XEN_ENXIO")]
    ENXIO = 6,
    /// Arg list too long
    #[doc(alias = "XEN_E2BIG")]
    E2BIG = 7,
    /// Exec format error
    #[doc(alias = "XEN_ENOEXEC")]
    ENOEXEC = 8,
    /// Bad file number
    #[doc(alias = "XEN_EBADF")]
    EBADF = 9,
    /// No child processes
    #[doc(alias = "XEN_ECHILD")]
    ECHILD = 10,
    /// Try again
    #[doc(alias = "XEN_EAGAIN")]
    EAGAIN = 11,
    /// Out of memory
    #[doc(alias = "XEN_ENOMEM")]
    ENOMEM = 12,
    /// Permission denied
    #[doc(alias = "XEN_EACCES")]
    EACCES = 13,
    /// Bad address
    #[doc(alias = "XEN_EFAULT")]
    EFAULT = 14,
    /// Device or resource busy
    #[doc(alias = "XEN_EBUSY")]
    EBUSY = 16,
    /// File exists
    #[doc(alias = "XEN_EEXIST")]
    EEXIST = 17,
    /// Cross-device link
    #[doc(alias = "XEN_EXDEV")]
    EXDEV = 18,
    /// No such device
    #[doc(alias = "XEN_ENODEV")]
    ENODEV = 19,
    /// Not a directory
    #[doc(alias = "XEN_ENOTDIR")]
    ENOTDIR = 20,
    /// Is a directory
    #[doc(alias = "XEN_EISDIR")]
    EISDIR = 21,
    /// Invalid argument
    #[doc(alias = "XEN_EINVAL")]
    EINVAL = 22,
    /// File table overflow
    #[doc(alias = "XEN_ENFILE")]
    ENFILE = 23,
    /// Too many open files
    #[doc(alias = "XEN_EMFILE")]
    EMFILE = 24,
    /// No space left on device
    #[doc(alias = "XEN_ENOSPC")]
    ENOSPC = 28,
    /// Read-only file system
    #[doc(alias = "XEN_EROFS")]
    EROFS = 30,
    /// Too many links
    #[doc(alias = "XEN_EMLINK")]
    EMLINK = 31,
    /// Math argument out of domain of func
    #[doc(alias = "XEN_EDOM")]
    EDOM = 33,
    /// Math result not representable
    #[doc(alias = "XEN_ERANGE")]
    ERANGE = 34,
    /// Resource deadlock would occur
    #[doc(alias = "XEN_EDEADLK")]
    EDEADLK = 35,
    /// File name too long
    #[doc(alias = "XEN_ENAMETOOLONG")]
    ENAMETOOLONG = 36,
    /// No record locks available
    #[doc(alias = "XEN_ENOLCK")]
    ENOLCK = 37,
    /// Function not implemented
    #[doc(alias = "XEN_ENOSYS")]
    ENOSYS = 38,
    /// Directory not empty
    #[doc(alias = "XEN_ENOTEMPTY")]
    ENOTEMPTY = 39,
    /// No data available
    #[doc(alias = "XEN_ENODATA")]
    ENODATA = 61,
    /// Timer expired
    #[doc(alias = "XEN_ETIME")]
    ETIME = 62,
    /// Not a data message
    #[doc(alias = "XEN_EBADMSG")]
    EBADMSG = 74,
    /// Value too large for defined data type
    #[doc(alias = "XEN_EOVERFLOW")]
    EOVERFLOW = 75,
    /// Illegal byte sequence
    #[doc(alias = "XEN_EILSEQ")]
    EILSEQ = 84,
    /// Interrupted system call should be restarted
    #[doc(alias = "XEN_ERESTART")]
    ERESTART = 85,
    /// Socket operation on non-socket
    #[doc(alias = "XEN_ENOTSOCK")]
    ENOTSOCK = 88,
    /// Message too large.
    #[doc(alias = "XEN_EMSGSIZE")]
    EMSGSIZE = 90,
    /// Operation not supported on transport endpoint
    #[doc(alias = "XEN_EOPNOTSUPP")]
    EOPNOTSUPP = 95,
    /// Address already in use
    #[doc(alias = "XEN_EADDRINUSE")]
    EADDRINUSE = 98,
    /// Cannot assign requested address
    #[doc(alias = "XEN_EADDRNOTAVAIL")]
    EADDRNOTAVAIL = 99,
    /// No buffer space available
    #[doc(alias = "XEN_ENOBUFS")]
    ENOBUFS = 105,
    /// Transport endpoint is already connected
    #[doc(alias = "XEN_EISCONN")]
    EISCONN = 106,
    /// Transport endpoint is not connected
    #[doc(alias = "XEN_ENOTCONN")]
    ENOTCONN = 107,
    /// Connection timed out
    #[doc(alias = "XEN_ETIMEDOUT")]
    ETIMEDOUT = 110,
    /// Connection refused
    #[doc(alias = "XEN_ECONNREFUSED")]
    ECONNREFUSED = 111,
}

impl Errno {
    /// Operation would block.  Aliases EAGAIN
    #[doc(alias = "XEN_EWOULDBLOCK")]
    pub const EWOULDBLOCK: Errno = Errno::EAGAIN;
    /// Resource deadlock would occur. Aliases EDEADLK
    #[doc(alias = "XEN_EDEADLOCK")]
    pub const EDEADLOCK: Errno = Errno::EDEADLK;

    /// Every distinct error number, in header order.
    pub const ALL: &'static [Errno] = &[
        Errno::EPERM,
        Errno::ENOENT,
        Errno::ESRCH,
        Errno::EINTR,
        Errno::EIO,
        Errno::ENXIO,
        Errno::E2BIG,
        Errno::ENOEXEC,
        Errno::EBADF,
        Errno::ECHILD,
        Errno::EAGAIN,
        Errno::ENOMEM,
        Errno::EACCES,
        Errno::EFAULT,
        Errno::EBUSY,
        Errno::EEXIST,
        Errno::EXDEV,
        Errno::ENODEV,
        Errno::ENOTDIR,
        Errno::EISDIR,
        Errno::EINVAL,
        Errno::ENFILE,
        Errno::EMFILE,
        Errno::ENOSPC,
        Errno::EROFS,
        Errno::EMLINK,
        Errno::EDOM,
        Errno::ERANGE,
        Errno::EDEADLK,
        Errno::ENAMETOOLONG,
        Errno::ENOLCK,
        Errno::ENOSYS,
        Errno::ENOTEMPTY,
        Errno::ENODATA,
        Errno::ETIME,
        Errno::EBADMSG,
        Errno::EOVERFLOW,
        Errno::EILSEQ,
        Errno::ERESTART,
        Errno::ENOTSOCK,
        Errno::EMSGSIZE,
        Errno::EOPNOTSUPP,
        Errno::EADDRINUSE,
        Errno::EADDRNOTAVAIL,
        Errno::ENOBUFS,
        Errno::EISCONN,
        Errno::ENOTCONN,
        Errno::ETIMEDOUT,
        Errno::ECONNREFUSED,
    ];

    /// The positive error number.
    pub const fn code(self) -> i32 {
        self as i32
    }

    /// The value a hypercall returns for this error (`-code`, sign-extended to 64 bits).
    pub const fn to_ret(self) -> i64 {
        -(self as i64)
    }

    /// The error for a positive error number, if Xen defines it.
    pub fn from_code(code: i32) -> Option<Errno> {
        Self::ALL.iter().copied().find(|e| e.code() == code)
    }

    /// The C name, e.g. `"EINVAL"`.
    pub const fn name(self) -> &'static str {
        match self {
            Errno::EPERM => "EPERM",
            Errno::ENOENT => "ENOENT",
            Errno::ESRCH => "ESRCH",
            Errno::EINTR => "EINTR",
            Errno::EIO => "EIO",
            Errno::ENXIO => "ENXIO",
            Errno::E2BIG => "E2BIG",
            Errno::ENOEXEC => "ENOEXEC",
            Errno::EBADF => "EBADF",
            Errno::ECHILD => "ECHILD",
            Errno::EAGAIN => "EAGAIN",
            Errno::ENOMEM => "ENOMEM",
            Errno::EACCES => "EACCES",
            Errno::EFAULT => "EFAULT",
            Errno::EBUSY => "EBUSY",
            Errno::EEXIST => "EEXIST",
            Errno::EXDEV => "EXDEV",
            Errno::ENODEV => "ENODEV",
            Errno::ENOTDIR => "ENOTDIR",
            Errno::EISDIR => "EISDIR",
            Errno::EINVAL => "EINVAL",
            Errno::ENFILE => "ENFILE",
            Errno::EMFILE => "EMFILE",
            Errno::ENOSPC => "ENOSPC",
            Errno::EROFS => "EROFS",
            Errno::EMLINK => "EMLINK",
            Errno::EDOM => "EDOM",
            Errno::ERANGE => "ERANGE",
            Errno::EDEADLK => "EDEADLK",
            Errno::ENAMETOOLONG => "ENAMETOOLONG",
            Errno::ENOLCK => "ENOLCK",
            Errno::ENOSYS => "ENOSYS",
            Errno::ENOTEMPTY => "ENOTEMPTY",
            Errno::ENODATA => "ENODATA",
            Errno::ETIME => "ETIME",
            Errno::EBADMSG => "EBADMSG",
            Errno::EOVERFLOW => "EOVERFLOW",
            Errno::EILSEQ => "EILSEQ",
            Errno::ERESTART => "ERESTART",
            Errno::ENOTSOCK => "ENOTSOCK",
            Errno::EMSGSIZE => "EMSGSIZE",
            Errno::EOPNOTSUPP => "EOPNOTSUPP",
            Errno::EADDRINUSE => "EADDRINUSE",
            Errno::EADDRNOTAVAIL => "EADDRNOTAVAIL",
            Errno::ENOBUFS => "ENOBUFS",
            Errno::EISCONN => "EISCONN",
            Errno::ENOTCONN => "ENOTCONN",
            Errno::ETIMEDOUT => "ETIMEDOUT",
            Errno::ECONNREFUSED => "ECONNREFUSED",
        }
    }
}

impl core::fmt::Display for Errno {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{} ({})", self.name(), self.code())
    }
}

/// The result type of hypercall handlers and the pure state machines.
pub type XenResult<T> = Result<T, Errno>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn to_ret_is_negated_code() {
        assert_eq!(Errno::ENOSYS.to_ret(), -38);
        assert_eq!(Errno::EINVAL.to_ret(), -22);
    }

    #[test]
    fn aliases_share_values() {
        assert_eq!(Errno::EWOULDBLOCK, Errno::EAGAIN);
        assert_eq!(Errno::EDEADLOCK, Errno::EDEADLK);
    }

    #[test]
    fn from_code_round_trips_every_errno() {
        for e in Errno::ALL {
            assert_eq!(Errno::from_code(e.code()), Some(*e));
        }
        assert_eq!(Errno::from_code(15), None);
    }
}
