"""medtk's ``em`` family: semantic segmentation of volume electron microscopy."""
