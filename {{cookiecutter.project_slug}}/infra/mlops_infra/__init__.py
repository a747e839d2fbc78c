"""The project's Azure infrastructure as a cdktf app: one stack per environment."""
