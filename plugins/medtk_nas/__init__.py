"""medtk's ``nas`` family: NAFLD activity score parts and fibrosis stage from CT and H&E."""
