"""The architecture guide's configurations and scripts, once for every test that uses them."""
