//! Discovery: finding models to build on the Hub. A listing query ([`query`], pure: parsed,
//! checked, encoded again) and the model listing it selects ([`listing`], read through the Hub
//! source's client). Above `source`, below the model list (`list`), which joins what is listed.

pub mod listing;
pub mod query;
