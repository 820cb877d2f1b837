"""overview page (placeholder)."""
import streamlit as st
st.title("overview")
