//! Tracker mechanics with packets built for the test.

use super::*;
