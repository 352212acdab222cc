//! Shared test support: the fixture hub and helpers.
#![allow(dead_code)]

pub mod hub;
