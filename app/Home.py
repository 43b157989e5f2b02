"""carescore public reporting: the entry point that `streamlit run app/Home.py` (or `make app`) starts.

Pages read only the published run bundle through carescore.publish.store (via lib.data); they never
compile SQL or read raw extracts. Public pages show only the suppressed view; leadership and payer pages
call `auth.require` before they read anything else.
"""

import streamlit as st

from lib import auth
from lib import data as ad

st.set_page_config(page_title="Care in our network", page_icon=":material/health_and_safety:", layout="wide")


def page(path: str, title: str, icon: str, **kw) -> st.Page:
    return st.Page(f"pages_/{path}.py", title=title, icon=f":material/{icon}:", url_path=path, **kw)


sections = {
    "For patients and families": [page("find", "Find and compare care", "search", default=True),
                                  page("profile", "Provider profile", "local_hospital")],
    "For network leadership": [page("scorecard", "Scorecard", "table_chart"),
                               page("equity", "Equity", "diversity_3"),
                               page("equity_summary", "Equity summary", "balance")],
    "For payers": [page("incentives", "Incentives", "payments")],
    "About the data": [page("methodology", "Methodology", "menu_book"),
                       page("data_quality", "Data quality", "fact_check")],
    "Staff": [page("sign_in", "Staff sign-in", "login")],
}
nav = st.navigation(sections)

staff_pages = sections["For network leadership"] + sections["For payers"]
with st.sidebar:
    staff = auth.current_staff()
    auth.sync_cookie()
    if staff is None:
        st.caption("Public pages need no sign-in. Leadership and payer pages are for staff.")
    else:
        st.caption(f"Signed in as **{staff.name}** ({', '.join(staff.roles) or 'no roles'})")
        if st.button("Sign out", key="sign_out"):
            auth.sign_out()
            st.rerun()

if nav in staff_pages and staff is None:
    st.session_state["return_to"] = nav.url_path  # where to go once signed in
elif nav not in sections["Staff"]:
    st.session_state.pop("return_to", None)  # went elsewhere instead
try:
    nav.run()
finally:
    # What staff pages need loads while a staff member signs in; public visitors never wait for it.
    if nav in staff_pages + sections["Staff"]:
        ad.import_in_background()
