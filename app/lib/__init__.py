"""What the Streamlit pages share: reads of the published run, wording for people, staff sign-in."""
