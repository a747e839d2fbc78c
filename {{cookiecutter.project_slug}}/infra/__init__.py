"""Infrastructure as code (cdktf). A package only so its tests get unique module names."""
