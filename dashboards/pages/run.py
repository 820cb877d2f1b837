"""run page (placeholder)."""
import streamlit as st
st.title("run")
