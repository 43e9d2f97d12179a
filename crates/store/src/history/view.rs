//! A proxy's history over a window, and the incidents, composed from a
//! [`super::HistoryStore`]'s reads.
