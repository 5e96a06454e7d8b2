"""Neural-network building blocks any task family can share: losses and small models."""
