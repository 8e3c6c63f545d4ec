"""What both wings use: inference and choice scoring, prompt -> model text, adapter loading, the Ray session, lineage."""
