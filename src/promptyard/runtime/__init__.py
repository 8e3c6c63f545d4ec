"""What both wings use: inference and choice scoring, prompt -> model text, adapters, the Ray session, lineage."""
