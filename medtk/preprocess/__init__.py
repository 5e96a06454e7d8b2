"""The core ``medtk preprocess`` steps: ingest, info, patches, window and cohort."""
