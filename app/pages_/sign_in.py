"""Staff sign-in: the identity provider when one is configured, else the local accounts file (see auth.py)."""

import streamlit as st

from lib import auth

st.title("Staff sign-in")
staff = auth.current_staff()
if staff is not None:
    st.success(f"You are signed in as **{staff.name}** through your {staff.via}.")
    roles = [auth.ROLES[r] for r in staff.roles if r in auth.ROLES]
    st.write("Your access: " + (", ".join(roles) if roles else "public pages only") + ".")
    st.stop()

st.write("Network leadership and payer pages show unpublished detail and are for staff only. "
         "Patients and families can use every public page without signing in.")

if auth.identity_provider_configured():
    st.button("Sign in with your organization account", on_click=st.login, type="primary")
    st.stop()

if not auth.local_users():
    st.info("Staff sign-in is not set up on this site yet. An administrator adds accounts as described in "
            "`app/lib/auth.py` (an identity provider, or local accounts with hashed passwords).")
    st.stop()

with st.form("sign_in"):
    user = st.text_input("User name")
    password = st.text_input("Password", type="password")
    submitted = st.form_submit_button("Sign in", type="primary")
if submitted:
    result = auth.sign_in_local(user, password, auth.client_key())
    if isinstance(result, str):
        st.error(result)
    else:
        auth.remember(result)
        # Back to the staff page that sent them here, if any; else this page says who they are.
        back = st.session_state.pop("return_to", None)
        if back:
            st.switch_page(f"pages_/{back}.py")
        st.rerun()
