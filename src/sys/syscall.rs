//! The one `syscall!` macro, shared by `sys::linux` and `sys::freebsd`.

/// Calls a libc function and turns its `-1` into the thread's `errno` as `io::Error`. Every
/// libc call in `sys::linux` and `sys::freebsd` that reports failure as `-1` goes through it.
///
/// The arguments are evaluated first, each into its own binding, outside the `unsafe` block:
/// only the call itself is unsafe, so an argument expression cannot slip an unchecked unsafe
/// operation past the caller's `// SAFETY:` comment. The expansion is `unsafe` code, so the
/// calling module needs `#[allow(unsafe_code)]` at its declaration.
macro_rules! syscall {
    ($fn:ident ( $($arg:expr),* $(,)? )) => {
        $crate::sys::syscall::syscall!(@bind $fn [] $($arg,)*)
    };
    // Each recursion binds one argument; macro hygiene keeps every `arg` binding distinct.
    (@bind $fn:ident [$($bound:ident)*] $head:expr, $($rest:expr,)*) => {{
        let arg = $head;
        $crate::sys::syscall::syscall!(@bind $fn [$($bound)* arg] $($rest,)*)
    }};
    (@bind $fn:ident [$($bound:ident)*]) => {{
        // SAFETY: the caller's own `// SAFETY:` comment covers the arguments; the call itself
        // is a plain libc function.
        let res = unsafe { ::libc::$fn($($bound),*) };
        if res == -1 {
            Err(::std::io::Error::last_os_error())
        } else {
            Ok(res)
        }
    }};
}
pub(crate) use syscall;
