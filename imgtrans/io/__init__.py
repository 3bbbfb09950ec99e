"""Reading and writing what users hand imgtrans: pictures, videos, input
arguments, file kinds, atomic writes."""
