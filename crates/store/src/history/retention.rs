//! Pruning history by age, in the background.
