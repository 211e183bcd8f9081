"""Exchange with other toolkits' data formats: DeepfakeBench's dataset JSON files (`deepfakebench`)."""
