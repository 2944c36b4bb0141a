//! The pipeline's configuration file (config.json).
