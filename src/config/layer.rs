//! The one declaration of a group of settings, and the layers it is read into.
//!
//! [`settings_group!`] takes a struct whose every field is one setting, written
//! once as an `Option<T>` with its doc comment (the `--help` text), its clap
//! attributes (flag, `PROXYHEALTH_*` variable, value parser, the default shown in
//! the help) and its serde attribute (how the TOML file's value is read). It
//! derives clap's `Args` and serde's `Deserialize` on that struct and implements
//! [`Layer`]: the keys the file may use and the precedence merge, both generated
//! from the field list, so neither is written per setting.

use std::fmt::Display;

/// One group of settings as one source gives them (the flags with their
/// variables, or the file): every field is `None` where that source is silent.
pub trait Layer: Default {
    /// The group's keys in the configuration file: its field names, which are
    /// also its flags' ids (`--body-cap` is `body_cap`), in `--help` order.
    const KEYS: &'static [&'static str];

    /// This layer's values where it has them, `lower`'s elsewhere: stacking
    /// layers by precedence is `flags.or(file)`.
    fn or(self, lower: Self) -> Self;
}

/// Overwrites `slot` with the value a layer has for it, and leaves the default
/// that is already there when the layer has none.
pub fn set<T>(slot: &mut T, value: Option<T>) {
    if let Some(value) = value {
        *slot = value;
    }
}

/// Shows a setting's default at the end of its `--help` line, as
/// `[default: …]`.
///
/// clap's own `default_value` cannot be used: it would fill the field, and the
/// file (which ranks below flags and variables) could never be told apart from
/// a flag the user gave. Called by the derive as `#[arg(help_default = …)]`,
/// after the doc comment has set the help.
pub trait HelpDefault {
    /// Appends ` [default: {default}]` to the help.
    fn help_default(self, default: impl Display) -> Self;
}

impl HelpDefault for clap::Arg {
    fn help_default(self, default: impl Display) -> Self {
        let help = self.get_help().map(ToString::to_string).unwrap_or_default();
        self.help(format!("{help} [default: {default}]"))
    }
}

/// Declares one group of settings: the struct as written, with clap's `Args`,
/// serde's `Deserialize` (missing keys are `None`), `Debug`, `Clone`, `Default`
/// and `PartialEq` derived, and its [`Layer`] implementation.
///
/// Every field must be `pub name: Option<T>`; the field name is the file key and,
/// with `-` for `_`, the long flag.
macro_rules! settings_group {
    (
        $(#[$($meta:tt)*])*
        pub struct $name:ident {
            $(
                $(#[$($field_meta:tt)*])*
                pub $field:ident: Option<$ty:ty>,
            )*
        }
    ) => {
        $(#[$($meta)*])*
        #[derive(Debug, Clone, Default, PartialEq, ::clap::Args, ::serde::Deserialize)]
        #[serde(default)]
        pub struct $name {
            $(
                $(#[$($field_meta)*])*
                pub $field: Option<$ty>,
            )*
        }

        impl $crate::config::layer::Layer for $name {
            const KEYS: &'static [&'static str] = &[$(stringify!($field)),*];

            fn or(self, lower: Self) -> Self {
                $name {
                    $($field: self.$field.or(lower.$field),)*
                }
            }
        }
    };
}

pub(crate) use settings_group;
